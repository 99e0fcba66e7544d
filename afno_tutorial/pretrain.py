"""``python -m afno_tutorial.pretrain``: the command line of :mod:`afno_tutorial.fewshot.pretrain`."""

import sys

from .fewshot.pretrain import main

if __name__ == "__main__":
    sys.exit(main())
