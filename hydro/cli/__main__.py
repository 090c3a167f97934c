"""``python -m hydro.cli``: the same entry point as the ``hydro`` command."""

import sys

from . import main

sys.exit(main())
