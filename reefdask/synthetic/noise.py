"""Seeded noise fields on global lattices of world coordinates, without seams.

A field is evaluated on a grid given by its 1-D world coordinates ``xs`` (columns) and
``ys`` (rows), in metres. Lattice node values hash the global lattice indices with a
64-bit key, and interpolation uses elementwise IEEE arithmetic only (no transcendental
functions, no reductions), so a point gets the same value, bit for bit, whatever grid
or window it is evaluated in: tiles rendered apart join exactly.

Examples
--------
>>> import numpy as np
>>> key = seed_key(7, 1)
>>> xs, ys = np.arange(8) * 30.0, np.arange(6) * -30.0
>>> whole = fbm(xs, ys, (500, 250), key)
>>> bool((fbm(xs[4:], ys[2:], (500, 250), key) == whole[2:, 4:]).all())
True
>>> whole.dtype.name, bool((whole >= 0).all() and (whole <= 1).all())
('float32', True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["seed_key", "value_noise", "fbm", "cell_values", "pixel_noise"]

_F = np.float32
_M64 = (1 << 64) - 1


def seed_key(seed: int, salt: int) -> np.uint64:
    """A 64-bit key for field ``salt`` of ``seed``."""
    h = (int(seed) * 0x9E3779B97F4A7C15 + salt * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & _M64
    h ^= h >> 31
    h = (h * 0xD6E8FEB86659FD93) & _M64
    return np.uint64(h ^ (h >> 32))


def _mix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(31))
    h = h * np.uint64(0xD6E8FEB86659FD93)
    h = h ^ (h >> np.uint64(32))
    h = h * np.uint64(0x9E3779B97F4A7C15)
    return h ^ (h >> np.uint64(29))


def _lattice(i: np.ndarray, j: np.ndarray, key: np.uint64) -> np.ndarray:
    """Uniform [0, 1) float32 at lattice nodes ``(j[:, None], i[None, :])``."""
    a = _mix(i.astype(np.int64).view(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ key)
    b = _mix(j.astype(np.int64).view(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F))
    h = _mix(a[None, :] ^ b[:, None])
    return (h >> np.uint64(40)).astype(_F) * _F(2.0**-24)


def _cell(coord: np.ndarray, wl: float) -> tuple[np.ndarray, np.ndarray]:
    u = coord / wl
    iu = np.floor(u)
    return iu.astype(np.int64), (u - iu).astype(_F)


def value_noise(xs: np.ndarray, ys: np.ndarray, wl: float, key: np.uint64) -> np.ndarray:
    """Smooth value noise in [0, 1) of wavelength ``wl`` metres at the grid ``ys x xs``."""
    iu, fu = _cell(xs, wl)
    iv, fv = _cell(ys, wl)
    i0, j0 = iu.min(), iv.min()
    table = _lattice(np.arange(i0, iu.max() + 2), np.arange(j0, iv.max() + 2), key)
    su = fu * fu * (_F(3) - _F(2) * fu)
    sv = (fv * fv * (_F(3) - _F(2) * fv))[:, None]
    cu = iu - i0
    left = table[:, cu]
    rows = left + (table[:, cu + 1] - left) * su  # (lattice rows, width)
    cv = iv - j0
    out = rows[cv]
    out += (rows[cv + 1] - out) * sv
    return out


def fbm(
    xs: np.ndarray, ys: np.ndarray, wls: Sequence[float], key: np.uint64, contrast: float = 2.0
) -> np.ndarray:
    """Sum of octaves (amplitude halves per octave), contrast-stretched around 0.5 and clipped."""
    total, amp = np.zeros((ys.size, xs.size), _F), 1.0
    for k, wl in enumerate(wls):
        total += _F(amp) * value_noise(xs, ys, wl, np.uint64((int(key) + k) & _M64))
        amp *= 0.5
    norm = _F(contrast / (2.0 - 2.0 * amp))
    return np.clip((total - _F(1.0 - amp)) * norm + _F(0.5), _F(0), _F(1))


def cell_values(xs: np.ndarray, ys: np.ndarray, wl: float, key: np.uint64) -> np.ndarray:
    """Piecewise-constant uniform [0, 1) per ``wl``-metre lattice cell."""
    iu, _ = _cell(xs, wl)
    iv, _ = _cell(ys, wl)
    table = _lattice(np.arange(iu.min(), iu.max() + 1), np.arange(iv.min(), iv.max() + 1), key)
    return table[(iv - iv.min())[:, None], (iu - iu.min())[None, :]]


def pixel_noise(gx: np.ndarray, gy: np.ndarray, key: np.uint64) -> np.ndarray:
    """Per-pixel triangular noise in (-1, 1), 3 bands, hashed from global pixel indices."""
    h = _mix(
        _mix(gx.astype(np.uint64) ^ key)[None, :]
        ^ (gy.astype(np.uint64) * np.uint64(0x632BE59BD9B4E019))[:, None]
    )
    out = []
    for b in range(3):
        u1 = ((h >> np.uint64(20 * b)) & np.uint64(1023)).astype(_F)
        u2 = ((h >> np.uint64(20 * b + 10)) & np.uint64(1023)).astype(_F)
        out.append((u1 + u2) * _F(1 / 1023) - _F(1))
    return np.stack(out)
