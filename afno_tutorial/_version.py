"""The package version (one place; ``afno_tutorial.__version__`` and :func:`afno_tutorial.config.versions` read it)."""

__version__ = "0.1.0"
