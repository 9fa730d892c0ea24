"""Entry point: ``python -m pycrash.core``."""

import sys

from .cli import main

sys.exit(main())
