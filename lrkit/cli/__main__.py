"""``python -m lrkit.cli …``: the ``lrkit`` command."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
