"""``python -m colored ...``: the ``colored`` command (:func:`colored.cli.main`)."""

import sys

from colored.cli import main

sys.exit(main())
