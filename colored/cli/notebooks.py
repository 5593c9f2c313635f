"""``colored demo``, ``colored chain`` and ``colored notebooks``: the commands around the seven
notebooks, thin shells over :mod:`colored.notebook.chain` (running them headless) and
:mod:`colored.notebook.publish` (where the lab is published)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from colored.cli.common import print_usage_error
from colored.notebook import chain, reference
from colored.notebook.params import chain_params, load_profile, profile_names

_OUT_HELP = "output folder (default: runs/<timestamp>); it must be new or empty, unless --overwrite"
_OVERWRITE_HELP = (
    "let --out name the folder of an earlier run (one holding its chain.json): everything in "
    "it is deleted first, so no old figure, notebook or model mixes with the new ones. A "
    "non-empty folder without chain.json is never deleted"
)


def add_chain_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``demo`` and ``chain``."""
    demo = subparsers.add_parser(
        "demo",
        help="run the seven notebooks with the reference parameters into runs/<timestamp>/",
        description="Run notebooks 01-07 headless (papermill), in order, with their reference parameters "
        "(= colored chain --profile reference); stops at the first failing notebook.",
    )
    demo.add_argument("--out", type=Path, default=None, help=_OUT_HELP)
    demo.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    demo.add_argument(
        "--kernel", default=chain.KERNEL_NAME, help=f"Jupyter kernel (default: {chain.KERNEL_NAME})"
    )
    demo.set_defaults(func=cmd_demo)

    parser = subparsers.add_parser(
        "chain",
        help="run the notebooks with other parameters (-p KEY VALUE, --params-file FILE.yaml)",
        description="Run the notebooks headless (papermill), in order. Each notebook receives the "
        "parameters its `parameters` cell declares; run_dir defaults to the output folder. "
        "Every value is checked before anything runs: a parameter no notebook declares, or "
        "a value of the wrong type for a notebook's parameters cell (an integer default "
        "takes integers, a float default numbers, a string default strings, a bool default "
        "true/false; null only where the default is None or the annotation Optional) or "
        "outside what colored.Config allows, stops the chain at once (exit code 2).",
    )
    parser.add_argument(
        "--profile",
        choices=profile_names(),
        default=None,
        help="a parameter set shipped with the package (colored/notebook/profiles/NAME.yaml): "
        "reference (offline, CPU, what colored demo runs) or colab (ColorED's real run "
        "on a GPU: Kaggle data, 256², ImageNet fusion, 200 epochs, resumes after a "
        "disconnect); --params-file and -p override its values",
    )
    parser.add_argument(
        "--params-file", type=Path, help="YAML file of parameters (overrides --profile)"
    )
    parser.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        metavar=("KEY", "VALUE"),
        help="a parameter (value parsed as YAML); repeatable, overrides --params-file",
    )
    parser.add_argument("--out", type=Path, default=None, help=_OUT_HELP)
    parser.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    parser.add_argument("--only", default=None, help="comma-separated notebooks to run, e.g. 04,05")
    parser.add_argument(
        "--kernel", default=chain.KERNEL_NAME, help=f"Jupyter kernel (default: {chain.KERNEL_NAME})"
    )
    parser.add_argument(
        "--list", action="store_true", help="list the notebooks' parameters and exit"
    )
    parser.add_argument(
        "--save-outputs",
        action="store_true",
        help="maintainers: run with the reference parameters and store the outputs in "
        "notebooks/*.ipynb (the reference `make test` compares against)",
    )
    parser.set_defaults(func=cmd_chain)


def _run_chain(
    params: dict, out: Path | None, notebooks: list[str], kernel: str, overwrite: bool = False
) -> int:
    out_dir = out or chain.timestamped_run_dir()
    start = time.perf_counter()
    chain.run_chain(params, out_dir, notebooks, kernel_name=kernel, overwrite=overwrite)
    print(
        f"{'total':<28} {time.perf_counter() - start:6.1f} s\nresults (executed notebooks, figures, "
        f"model, metrics): {out_dir}/"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    missing = chain.missing_prerequisites()
    if missing:
        return print_usage_error("demo", missing)
    return _run_chain(
        load_profile("reference"),
        args.out,
        list(chain.NOTEBOOKS),
        args.kernel,
        overwrite=args.overwrite,
    )


def cmd_chain(args: argparse.Namespace) -> int:
    missing = chain.missing_prerequisites()
    if missing:
        return print_usage_error("chain", missing)
    notebooks = chain.select_notebooks(args.only)
    if args.save_outputs:
        if args.param or args.params_file or args.out or args.profile:
            raise ValueError(
                "--save-outputs runs the reference parameters into runs/reference only: "
                "drop -p, --params-file, --profile and --out"
            )
        for path in reference.refresh_reference_outputs(notebooks, args.kernel):
            print(f"outputs saved in {path} ({path.stat().st_size / 1024:.0f} kB)")
        return 0
    if args.list:
        print(chain.parameters_listing(notebooks))
        return 0
    params = chain_params(args.params_file, args.param or (), profile=args.profile)
    return _run_chain(params, args.out, notebooks, args.kernel, overwrite=args.overwrite)


def add_notebooks_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "notebooks",
        help="set where the lab is published (the notebooks' Colab badges and install lines)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "The notebooks' Colab badges and their setup cells' install line (pip install\n"
            "git+https://github.com/OWNER/NAME@REF) name the GitHub repository the lab is published in.\n"
            "One setting holds it (PUBLISHED in colored/notebook/publish.py); --repo rewrites that setting and every\n"
            "badge and install line of the seven notebooks (outputs untouched), README.md and\n"
            "notebooks/README.md, in this checkout. Without --repo: check that they all agree\n"
            "(exit 1, listing each one that does not)."
        ),
        epilog=(
            "examples:\n"
            "  colored notebooks --repo alice/colored@main   (then commit, push, open 01's badge)\n"
            "  colored notebooks                              (where is it published? do all agree?)"
        ),
    )
    parser.add_argument(
        "--repo",
        metavar="OWNER/NAME[@REF]",
        default=None,
        help="the GitHub repository (and branch, tag or commit; default main) to point at",
    )
    parser.set_defaults(func=cmd_notebooks)
    return parser


def cmd_notebooks(args: argparse.Namespace) -> int:
    from colored.notebook import publish

    if args.repo is not None:
        try:
            repo = publish.parse_repository(args.repo)
        except ValueError as error:
            return print_usage_error("notebooks", error)
        changed = publish.set_published(repo)
        for path in changed:
            print(f"rewrote {path.relative_to(publish.ROOT)}")
        print(
            f"the lab is published at {repo} ({len(changed)} file(s) changed): commit and push, then open "
            f"{repo.badge_url('01_data_download.ipynb')}"
        )
    setting = repo if args.repo is not None else publish.published()
    problems = publish.find_mismatches(repo=setting)
    for problem in problems:
        print(f"colored notebooks: {problem}", file=sys.stderr)
    if problems:
        print(
            f"colored notebooks: error: {len(problems)} place(s) disagree with PUBLISHED in colored/notebook/publish.py; "
            f"`colored notebooks --repo {setting}` rewrites them",
            file=sys.stderr,
        )
        return 1
    if args.repo is None:
        print(f"the lab is published at {setting}: every badge and install line agrees")
    return 0
