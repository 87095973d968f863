"""``python -m batch``: classify an archive offline (see batch/cli.py)."""

import sys

from batch.cli import main

sys.exit(main())
