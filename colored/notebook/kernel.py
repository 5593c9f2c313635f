"""Install the ``colored`` Jupyter kernel into this environment.

Why: TensorFlow's C++ logging writes straight to file descriptor 2; ipykernel captures fd output
into cell outputs, which pollutes notebooks and breaks nbval's strict comparison. This kernel runs
with ``capture_fd_output = False`` and ``TF_CPP_MIN_LOG_LEVEL=3`` (FACTS.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KERNEL_NAME = "colored"


def kernel_spec() -> dict:
    return {
        "argv": [
            sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            "--IPKernelApp.capture_fd_output=False",
        ],
        "display_name": "Python 3 (colored)",
        "language": "python",
        "env": {
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "NO_ALBUMENTATIONS_UPDATE": "1",
            "PYTHONWARNINGS": "ignore",
        },
        "metadata": {"debugger": False},
    }


def install(prefix: str | Path = sys.prefix) -> Path:
    folder = Path(prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kernel.json").write_text(json.dumps(kernel_spec(), indent=1))
    return folder


if __name__ == "__main__":
    if "--install" in sys.argv:
        print(f"installed Jupyter kernel '{KERNEL_NAME}' in {install()}")
