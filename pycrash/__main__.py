"""``python -m pycrash``: the same as the ``pycrash`` command."""

import sys

from pycrash.cli import main

sys.exit(main())
