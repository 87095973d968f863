"""``python -m training``: train a model and publish it (see training/cli.py)."""

import sys

from training.cli import main

sys.exit(main())
