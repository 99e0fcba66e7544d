"""One colour per mixer, in every figure: the one place plots get a mixer's colour.

A registered mixer's colour is the one it was registered with (:func:`afno_tutorial.mixers.register_mixer`,
``color=``; the built-ins: AFNO blue, self-attention red, GFN green, FNO orange). A mixer registered without one
gets the first colour of :data:`PALETTE` that no registered mixer was given, counted in registration order among
the mixers without one: deterministic, and distinct from every other mixer's. Series that are not registered
mixers (the benchmark's baselines, a mixer with non-default settings) get the palette's colours that no mixer
in the same figure uses (:func:`series_colours`).
"""

from __future__ import annotations

from typing import Sequence

from matplotlib.colors import to_hex

from ..mixers import available_mixers, mixer_info

#: Colours handed out after the registered ones: matplotlib's ``tab10`` then the darker of ``tab20b``.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#5254a3", "#8ca252", "#bd9e39", "#ad494a", "#a55194",
)  # fmt: skip


def _given() -> dict[str, str]:
    """Registered mixers with a colour of their own: name -> hex colour."""
    return {name: to_hex(mixer_info(name).color) for name in available_mixers() if mixer_info(name).color}


def mixer_colours() -> dict[str, str]:
    """Every registered mixer's colour (hex), in registration order."""
    given = _given()
    free = [c for c in PALETTE if c not in given.values()]
    colours, picked = {}, 0
    for name in available_mixers():
        if name in given:
            colours[name] = given[name]
        else:
            colours[name] = free[picked % len(free)]
            picked += 1
    return colours


def mixer_colour(name: str) -> str:
    """The colour (hex) of the registered mixer ``name``."""
    colours = mixer_colours()
    if name not in colours:
        raise ValueError(f"name: expected a registered mixer, one of {list(colours)}, got {name!r}")
    return colours[name]


def series_colours(names: Sequence[str]) -> dict[str, str]:
    """A colour for each of ``names`` (one per distinct name): a registered mixer's own, then, for the others in
    order, the palette's colours that no registered mixer uses, then those the figure's mixers do not use."""
    mixers = mixer_colours()
    out = {name: mixers[name] for name in names if name in mixers}
    spare = [c for c in PALETTE if c not in mixers.values()] + [c for c in PALETTE if c in mixers.values()
                                                                  and c not in out.values()]  # fmt: skip
    others = [name for name in dict.fromkeys(names) if name not in out]
    for i, name in enumerate(others):
        out[name] = spare[i % len(spare)]
    return {name: out[name] for name in dict.fromkeys(names)}


__all__ = ["PALETTE", "mixer_colour", "mixer_colours", "series_colours"]
