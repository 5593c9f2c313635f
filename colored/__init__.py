"""colored: deep-learning image colorization, as a course lab.

The library follows the data flow, one module per step:
data → color → augment → pipeline → model → losses → train → colorize → viz.
"""
from __future__ import annotations

import os

# Quiet TensorFlow's C++ logging and albumentations' PyPI version check before either is imported
# anywhere in the package (both would otherwise write to notebook outputs and break nbval).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from colored.config import Config  # noqa: E402

__all__ = ["Config"]
__version__ = "0.1.0"
