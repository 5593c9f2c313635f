"""colored: deep-learning image colorization, as a course lab.

The library follows the data flow, one module per step:
data → color → augment → pipeline → bins → model → losses → train → colorize → viz.
"""

from __future__ import annotations

import os

#: Quiets TensorFlow's C++ logging and albumentations' PyPI version check; set (unless already set)
#: before either is imported anywhere in the package: both would otherwise write to notebook outputs
#: and break nbval. This module must never import keras. colored.notebook.setup() enforces these values.
QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "NO_ALBUMENTATIONS_UPDATE": "1"}
for _name, _value in QUIET_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)
del _name, _value

from colored.config import Config, Decoding  # noqa: E402

__all__ = ["Config", "Decoding"]
__version__ = "0.1.0"
