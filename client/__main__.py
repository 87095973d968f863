"""``python -m client``: talk to a running topic service from the command line (see client/__init__.py)."""

import sys

from client import main

sys.exit(main())
