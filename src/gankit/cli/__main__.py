"""``python -m gankit.cli`` is ``python -m gankit``."""

import sys

from . import main

sys.exit(main())
