"""``python -m gankit`` (and ``torchrun ... -m gankit train ...``) is the ``gankit`` command."""

import sys

from .cli import main

sys.exit(main())
