"""``python -m lrlab.cli``: the ``lrlab`` command."""

import sys

from lrlab.cli import main

sys.exit(main())
