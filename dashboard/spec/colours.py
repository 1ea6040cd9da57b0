"""Object class colours: one palette, two uses.

A new class gets the colour of its position in the taxonomy (``colour_at``: the strong colours
only, readable as thin outlines on photos); a class drawn without a stored colour gets a colour
from its name (``colour_of``: the same name, the same colour, always). Append only: a class
keeps its colour.
"""

from __future__ import annotations

import zlib

# Distinct colours readable on photos: Sasha Trubetskoy's list without white and black.
PALETTE = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4",
    "#42d4f4", "#f032e6", "#bfef45", "#fabed4", "#469990", "#dcbeff",
    "#9a6324", "#800000", "#aaffc3", "#808000", "#000075", "#a9a9a9",
)  # fmt: skip
# The ten strong ones, in the palette's order: pale and dark colours left out.
_PALE_OR_DARK = {"#ffe119", "#fabed4", "#dcbeff", "#800000", "#aaffc3", "#808000", "#000075",
                 "#a9a9a9"}  # fmt: skip
STRONG = tuple(colour for colour in PALETTE if colour not in _PALE_OR_DARK)


def colour_at(position: int) -> str:
    """The colour a new class at ``position`` of its taxonomy gets."""
    return STRONG[position % len(STRONG)]


def colour_of(name: str) -> str:
    """A stable colour for a class without a stored one."""
    return PALETTE[zlib.crc32(name.encode("utf-8")) % len(PALETTE)]
