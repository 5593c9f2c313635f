"""``python -m colored.cli ...``: the ``colored`` command (:func:`colored.cli.main`), as it was
before the command line became a package (scripts and tests run it this way)."""

import sys

from colored.cli import main

sys.exit(main())
