"""Plots (functions returning a matplotlib ``Figure``) and widget factories (returning an ipywidgets container).

Import the submodule you need, e.g. ``from afno_tutorial.viz import spectra``.
"""
