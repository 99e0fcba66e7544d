"""``python -m afno_tutorial.bench``: see :mod:`afno_tutorial.bench.harness`."""

import sys

from .harness import main

sys.exit(main())
