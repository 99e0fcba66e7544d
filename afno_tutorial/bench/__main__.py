"""``python -m afno_tutorial.bench``: the command line (:mod:`afno_tutorial.bench.cli`); ``--_child TASK`` is a
measurement in a fresh process (:func:`afno_tutorial.bench.isolate.child_main`), which needs no plotting."""

import sys

if sys.argv[1:2] == ["--_child"]:
    from .isolate import child_main

    child_main(sys.argv[2])
else:
    from .cli import main

    sys.exit(main())
