"""The old name of :mod:`colored.notebook` (notebooks saved before the rename run
``import colored.lab; colored.lab.setup()``): the same module, with a warning to update the cell."""

import sys
import warnings

from colored import notebook

warnings.warn(
    "colored.lab is now colored.notebook: change the setup cell to "
    "`import colored.notebook` and `colored.notebook.setup()`",
    FutureWarning,  # shown to notebook users by default (PEP 565), unlike DeprecationWarning
    stacklevel=2,
)
sys.modules[__name__] = notebook
