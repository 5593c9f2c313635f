"""Peak memory (RSS) of one lab notebook run headless, the way the chain runs it (papermill, the
``colored`` kernel): is it safe on a 12.7 GB Colab session?

The notebook runs in a Jupyter kernel, a child process; this samples the resident memory of every
process under this one (papermill's own process excluded: it is not there on Colab) every
``--every`` seconds and reports the kernel's peak, with the wall time. Parameters are passed to
papermill as they are (no chain check), so ``backbone_weights: null`` (random ImageNet-sized backbone,
the same compute and memory as the real weights, which cannot be downloaded offline) is allowed.

    python benchmarks/notebook_memory.py 02 -p data_source ../shared/data/train -p image_size 256
    python benchmarks/notebook_memory.py 05 --params-file colored/notebook/profiles/colab.yaml \\
        -p data_source /tmp/photos160 -p backbone_weights null -p epochs 1 --out runs/mem05
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import psutil  # noqa: E402

from colored.notebook import chain
from colored.notebook import params as notebook_params


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebook", help="e.g. 02 or 05_training, or the path of a notebook file")
    parser.add_argument("--params-file", type=Path)
    parser.add_argument(
        "-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"), default=[]
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="run folder (default: a temporary one)"
    )
    parser.add_argument("--every", type=float, default=0.1, help="sampling period, seconds")
    args = parser.parse_args()

    import papermill

    source = Path(
        args.notebook
    )  # a notebook file (e.g. an older version of one), or a lab notebook's number
    if not (source.suffix == ".ipynb" and source.is_file()):
        source = chain.NOTEBOOK_DIR / chain.select_notebooks(args.notebook)[0]
    name = source.name
    declared = notebook_params.notebook_parameters(source)
    params = {
        k: v
        for k, v in notebook_params.chain_params(args.params_file, args.param).items()
        if k in declared
    }
    out = args.out or Path(tempfile.mkdtemp(prefix="notebook_memory_"))
    out.mkdir(parents=True, exist_ok=True)
    params.setdefault("run_dir", str(out.resolve()))
    me = psutil.Process()
    peak = {"kernel": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for child in me.children(recursive=True):
                try:
                    peak["kernel"] = max(peak["kernel"], child.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(args.every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    papermill.execute_notebook(
        str(source),
        str(out / name),
        parameters=params,
        kernel_name=chain.KERNEL_NAME,
        progress_bar=False,
        cwd=str(chain.NOTEBOOK_DIR),
    )
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    result = {
        "notebook": name,
        "parameters": params,
        "peak_rss_gib": round(peak["kernel"] / 2**30, 2),
        "seconds": round(seconds, 1),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
    }
    print(json.dumps(result))
    (out / f"memory_{Path(name).stem}.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
