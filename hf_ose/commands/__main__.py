"""``python -m hf_ose.commands``: the ``hf-ose`` command line."""

import sys

from . import main

sys.exit(main())
