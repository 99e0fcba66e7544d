"""``python -m afno_tutorial.fewshot``: see :mod:`afno_tutorial.fewshot.cli`."""

import sys

from .cli import main

sys.exit(main())
