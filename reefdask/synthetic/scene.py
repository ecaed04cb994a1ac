"""Rendering of synthetic reef scenes from world-coordinate fields (see :mod:`reefdask.synthetic`).

Class structure: a "height" field makes platforms ringed by forereef slopes (reef where
a "reefness" field is high, else non-reef deep) and reef flats (shallow / variable reef
flat, or sand and seagrass), lagoons with pinnacles and sand inside, beaches and islands
with vegetation, bare soil and ponds on top. Reef flats, sand, seagrass and lagoon floors
share colours and differ in texture and context. Then haze, clouds (label cloud where
opaque) with shadows offset by a fixed distance, sensor noise and no-data patches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reefdask.core.grid import HALF_WORLD
from reefdask.core.nodata import LABEL_NODATA
from reefdask.errors import ConfigError
from reefdask.synthetic.noise import cell_values, fbm, pixel_noise, seed_key

__all__ = ["KINDS", "render"]

#: what a quad can be forced to be
KINDS = ("auto", "no_reef", "land")

_F = np.float32
_STRIP = 256  # rows rendered at once: bounds memory for 4096 px quads

# height thresholds (quantiles of the height field, see module docs)
_T_SLOPE, _T_FLAT, _T_LAGOON, _T_BEACH, _T_LAND = 0.38, 0.45, 0.57, 0.78, 0.80


# bottom colours per class code (dark end, bright end), blended by texture
_ENDS = {
    1: ((35, 75, 35), (95, 125, 60)),
    2: ((20, 45, 50), (60, 110, 100)),
    3: ((10, 38, 85), (16, 48, 98)),
    4: ((120, 128, 95), (232, 224, 196)),
    5: ((95, 85, 70), (225, 212, 180)),
    6: ((95, 85, 70), (235, 226, 198)),
    7: ((110, 118, 80), (228, 218, 190)),
    8: ((80, 75, 62), (210, 198, 168)),
    9: ((105, 95, 78), (235, 226, 198)),
    10: ((45, 80, 55), (230, 222, 195)),
    11: ((150, 140, 115), (225, 215, 185)),
    15: ((140, 120, 90), (185, 160, 120)),
}
_ENDS[12], _ENDS[13] = _ENDS[1], _ENDS[3]
_DARK = np.zeros((3, 16), _F)
_BRIGHT = np.zeros((3, 16), _F)
for _c, (_d, _b) in _ENDS.items():
    _DARK[:, _c], _BRIGHT[:, _c] = _d, _b


def _mixc(a: Sequence[float], b: Sequence[float], t: np.ndarray) -> np.ndarray:
    """Blend colours ``a`` -> ``b`` by ``t`` (``(y, x)``) into ``(3, y, x)``."""
    a3 = np.asarray(a, _F)[:, None, None]
    b3 = np.asarray(b, _F)[:, None, None]
    return a3 + (b3 - a3) * t[None]


def _strip(gx: np.ndarray, gy: np.ndarray, px: float, seed: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    xs = -HALF_WORLD + (gx + 0.5) * px
    ys = HALF_WORLD - (gy + 0.5) * px
    k = [seed_key(seed, s) for s in range(16)]
    shape = (ys.size, xs.size)
    h = fbm(xs, ys, (9000, 4500, 2200, 1100, 550), k[1], 2.4)
    if kind != "auto":
        h = np.full(shape, _F(0.0 if kind == "no_reef" else 1.0))
    reef = fbm(xs, ys, (2500, 1200), k[2])
    sand = fbm(xs, ys, (900, 450), k[3])
    var = fbm(xs, ys, (700, 350), k[4])
    pin = fbm(xs, ys, (360, 180), k[5], 2.6)
    pond = fbm(xs, ys, (700, 350), k[6], 2.6)
    tex = fbm(xs, ys, (240, 120, 60, 24, 10), k[7], 2.6)
    haze = fbm(xs, ys, (7000,), k[8], 1.0)

    slope = (h >= _T_SLOPE) & (h < _T_FLAT)
    flat = (h >= _T_FLAT) & (h < _T_LAGOON)
    hl = h + _F(0.25) * (fbm(xs, ys, (3000, 1500), k[13]) - _F(0.5))  # islands sit off-centre
    lagoon = (h >= _T_LAGOON) & (hl < _T_BEACH)
    beach = (h >= _T_LAGOON) & (hl >= _T_BEACH) & (hl < _T_LAND)
    land = (h >= _T_LAGOON) & (hl >= _T_LAND)
    isreef = reef > _F(0.42)
    lab = np.full(shape, 3, np.int16)
    lab[slope] = np.where(isreef, 5, 11)[slope]
    flat_reef = np.where(sand > _F(0.75), 9, np.where(var > _F(0.55), 7, 6))
    lab[flat] = np.where(isreef, flat_reef, np.where(sand > _F(0.5), 9, 10))[flat]
    lab[lagoon] = np.where(pin > _F(0.92), 8, np.where(sand > _F(0.72), 9, 4))[lagoon]
    lab[beach] = 9
    lab[land] = np.where((pond > _F(0.9)) & (kind == "auto"), 2, 1)[land]
    supp = (cell_values(xs, ys, 2600, k[9]) < _F(0.12)) & (kind == "auto")
    lab[supp & (lab == 1)] = 12
    lab[supp & (lab == 3)] = 13

    # depth 0 (surface) .. 1 (optically deep) and bottom colour, per class
    depth = np.ones(shape, _F)
    depth = np.where(slope, _F(1) - _F(0.8) * (h - _F(_T_SLOPE)) / _F(_T_FLAT - _T_SLOPE), depth)
    depth = np.where(flat | beach, _F(0.08) + _F(0.1) * var, depth)
    depth = np.where(lagoon, _F(0.25) + _F(0.3) * var, depth)
    depth = np.where(lab == 8, _F(0.1), np.where(land, _F(0), depth))
    look = np.where(land & (lab != 2) & (sand > _F(0.7)), 15, lab)  # 15: bare soil on land
    t = np.where((look == 9) | (look == 11), _F(0.45) + _F(0.5) * sand, tex)  # smooth, not mottled
    t = np.where(look == 10, np.clip(_F(1.6) * tex - _F(0.3), _F(0), _F(1)), t)
    t = np.where(look == 4, _F(0.15) + _F(0.55) * var + _F(0.25) * tex, t)
    lo, hi = _DARK[:, look], _BRIGHT[:, look]
    rgb = lo + (hi - lo) * t[None]
    water = _mixc((55, 170, 185), (12, 40, 88), depth)
    a = np.where(land & (lab != 2), _F(0), np.where(beach, _F(0.05), _F(0.2) + _F(0.8) * depth))
    rgb = rgb + (water - rgb) * a[None]
    rgb = rgb * (_F(0.88) + _F(0.24) * haze)[None] + _F(12) * haze[None]

    if kind == "auto":
        cover = fbm(xs, ys, (4000, 2000, 1000, 500), k[10], 1.2)
        shade = fbm(xs + 700.0, ys - 500.0, (4000, 2000, 1000, 500), k[10], 1.2)
        op = np.clip((cover - _F(0.70)) * _F(10), _F(0), _F(1))
        sh = np.clip((shade - _F(0.70)) * _F(10), _F(0), _F(1))
        rgb = rgb * (_F(1) - _F(0.45) * sh * (_F(1) - op))[None]
        rgb = rgb + (_mixc((215, 218, 225), (250, 250, 252), tex) - rgb) * op[None]
        lab[op > _F(0.5)] = 14
        nodata = fbm(xs, ys, (6000, 3000), k[11], 1.2) > _F(0.88)
    else:
        nodata = np.zeros(shape, bool)
    rgb = rgb + _F(5) * pixel_noise(gx, gy, k[12])
    out = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    alpha = np.where(nodata, 0, 255).astype(np.uint8)
    out[:, nodata] = 0
    lab[nodata] = LABEL_NODATA
    return np.concatenate([out, alpha[None]]), lab


def render(
    gx0: int, gy0: int, width: int, height: int, px: float, seed: int, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """Render global pixels ``[gy0, gy0 + height) x [gx0, gx0 + width)`` (rows from the north)."""
    if kind not in KINDS:
        raise ConfigError(f"Synthetic quad kind {kind!r} is unknown; use one of {list(KINDS)}.")
    rgba = np.empty((4, height, width), np.uint8)
    labels = np.empty((height, width), np.int16)
    gx = np.arange(gx0, gx0 + width, dtype=np.int64)
    for r0 in range(0, height, _STRIP):
        gy = np.arange(gy0 + r0, gy0 + min(r0 + _STRIP, height), dtype=np.int64)
        rgba[:, r0 : r0 + gy.size], labels[r0 : r0 + gy.size] = _strip(gx, gy, px, seed, kind)
    return rgba, labels
