"""Print the constraints file: the exact version of every package that ``colored-lab[test]`` pulls in,
as installed in the environment running this script (``make lock`` writes it to constraints.txt).

Only the project's dependency tree is written (walked through the installed packages' metadata),
not whatever else was pip-installed by hand into the environment (torch for the backend test, say).
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = "colored-lab"  # the distribution (pyproject.toml), not the import name
# Installer tooling, left out like `pip freeze` does: a venv brings its own, and a pinned old
# setuptools would block installing anything that needs a newer one (torch does).
TOOLING = {"pip", "setuptools", "wheel"}


def dependency_tree(
    root: str = ROOT, extras: tuple[str, ...] = ("test",)
) -> dict[str, metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    walked: dict[str, set[str]] = {}
    todo = [(root, set(extras))]
    while todo:
        name, wanted = todo.pop()
        key = canonicalize_name(name)
        if key in walked and wanted <= walked[key]:
            continue
        walked[key] = walked.get(key, set()) | wanted
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            sys.exit(
                f"lock: {name} is required but not installed in {sys.prefix}: run `make setup` first"
            )
        if key not in TOOLING:
            found[key] = dist
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker and not any(
                requirement.marker.evaluate({"extra": extra}) for extra in wanted | {""}
            ):
                continue
            todo.append((requirement.name, set(requirement.extras)))
    found.pop(canonicalize_name(root))
    return found


def main() -> None:
    tree = dependency_tree()
    print("# Exact versions that `make test` passed with (constraints for `pip install -c`).")
    print('# Regenerate with `make lock` from a venv whose tests pass (README: "Tested versions").')
    print(f"# Locked on Python {platform.python_version()}, {sys.platform} {platform.machine()}.")
    for key in sorted(tree):
        dist = tree[key]
        print(f"{dist.metadata['Name']}=={dist.version}")


if __name__ == "__main__":
    main()
