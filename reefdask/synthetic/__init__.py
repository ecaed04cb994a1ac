"""Seeded synthetic reef scenes written as real GeoTIFFs on the real quad grid (never real imagery)."""

from reefdask.synthetic.quads import (
    DEFAULT_ORIGIN,
    KINDS,
    SyntheticQuad,
    default_quads,
    synth_block,
    synth_quads,
    synth_scene,
    write_corrupt_quad,
)

__all__ = [
    "DEFAULT_ORIGIN",
    "KINDS",
    "SyntheticQuad",
    "default_quads",
    "synth_block",
    "synth_quads",
    "synth_scene",
    "write_corrupt_quad",
]
