"""``python -m lrkit …``: the ``lrkit`` command (see :mod:`lrkit.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
