"""Private: the fast CPU path of :class:`~afno_tutorial.mixers.afno.AFNO2d`, entered from one line of its ``forward``.

Nothing here is needed to understand AFNO; every result equals the readable computation in ``mixers/afno.py``
(tested, outputs and gradients). ``benchmarks/README.md`` says what each piece buys.
"""
