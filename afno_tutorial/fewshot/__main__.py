"""``python -m afno_tutorial.fewshot``: see :mod:`afno_tutorial.fewshot.protocol`."""

import sys

from .protocol import main

sys.exit(main())
