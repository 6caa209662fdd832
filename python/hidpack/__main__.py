"""``python -m hidpack``: the command line (see :mod:`hidpack.cli`)."""

import sys

from hidpack.cli import main

sys.exit(main())
