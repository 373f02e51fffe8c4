"""``python -m napari_pathrobust.cli``."""

import sys

from . import main

sys.exit(main())
