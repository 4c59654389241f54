"""``python -m nstlib``: see :mod:`nstlib.cli`."""

import sys

from .cli import main

sys.exit(main())
