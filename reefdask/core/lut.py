"""Lookup tables: the one vectorised way reefdask maps class codes and label values.

Two shapes of table, both applied without any Python loop over pixels:

* :func:`apply_lut`: a NumPy table indexed by code (``table[code]``, length 256 for the
  class schema's codes 0..254). Values that are not codes of the table (negative,
  too large, fractional, NaN, or ``src_nodata``) become ``fill``.
* :func:`lookup_values`: a mapping of *label values* (attribute strings, raster
  numbers) to codes, keyed by :func:`value_key` (``1.0`` and ``1`` are the same key).
  Integer rasters go through a dense table over their value range (one pass); other
  values are looked up once per distinct value (``np.unique``), then broadcast back.

:meth:`reefdask.core.classes.ClassSchema.lut` / ``remap`` / ``channel_lut`` build their
tables here; training labels, cleaned labels and products all go through these two.

Examples
--------
>>> import numpy as np
>>> table = np.array([9, 8, 7, 255], "uint8")
>>> apply_lut(np.array([[0, 2, 3, -1, 7]]), table).tolist()
[[9, 7, 255, 255, 255]]
>>> apply_lut(np.array([1.0, 1.5, np.nan]), table).tolist()
[8, 255, 255]
>>> lookup_values(np.array([1.0, 2.0, 1.0]), {"1": 5}, default=-9999).tolist()
[5, -9999, 5]
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["apply_lut", "index_lut", "lookup_values", "value_key"]


def apply_lut(
    array: Any, table: np.ndarray, src_nodata: float | None = None, fill: Any = None
) -> np.ndarray:
    """``table[array]`` for the values that index ``table``; ``fill`` (default ``table[-1]``) elsewhere.

    Parameters
    ----------
    array
        Codes, any integer or float dtype, any shape (NumPy; Dask through ``map_blocks``).
    table
        1-D lookup table, index = code.
    src_nodata
        A value of ``array`` that is nodata whatever the table says.
    fill
        The value for anything that is not a code of the table. Default: the table's
        last entry (a schema table's ``table[255]``, its nodata).
    """
    a = np.asarray(array)
    fill = table[-1] if fill is None else fill
    if a.dtype.kind == "f":
        ok = np.isfinite(a) & (a == np.floor(np.where(np.isfinite(a), a, 0)))
        idx = np.where(ok, a, -1).astype(np.int64)
    else:
        idx = a.astype(np.int64, copy=False)
        ok = np.ones(a.shape, bool)
    ok &= (idx >= 0) & (idx < len(table))
    if src_nodata is not None:
        ok &= a != src_nodata
    return np.where(ok, table[np.where(ok, idx, 0)], np.asarray(fill, table.dtype)).astype(table.dtype)


def index_lut(codes: Any, nodata: int = 255) -> np.ndarray:
    """Table (uint8, length 256): ``codes[i]`` -> ``i``, ``nodata`` for every other code.

    >>> index_lut([3, 1])[:4].tolist()
    [255, 1, 255, 0]
    """
    out = np.full(256, nodata, dtype="uint8")
    out[[int(c) for c in codes]] = np.arange(len(codes))
    return out


def value_key(value: Any) -> str:
    """The key of a label value: its text, with integral floats as integers (``1.0`` -> ``'1'``)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    elif isinstance(value, np.integer):
        value = int(value)
    return str(value)


def lookup_values(values: Any, table: dict[str, int], default: int, dtype: str = "int16") -> np.ndarray:
    """Each element of ``values`` through ``table`` (keyed by :func:`value_key`); ``default`` if absent."""
    a = np.asarray(values)
    if a.size == 0:
        return np.zeros(a.shape, dtype)
    if a.dtype.kind in "iu":  # label rasters: a dense table over the values' range, one pass
        lo, hi = int(a.min()), int(a.max())
        if hi - lo < 1 << 20:
            dense = np.full(hi - lo + 1, default, dtype)
            for key, code in table.items():
                v = int(key) if key.lstrip("-").isdigit() else None
                if v is not None and str(v) == key and lo <= v <= hi:
                    dense[v - lo] = code
            return dense[a.astype(np.int64) - lo]
    try:
        uniques, inverse = np.unique(a.ravel(), return_inverse=True)
    except TypeError:  # mixed Python objects (attribute values with None): one lookup each
        uniques, inverse = a.ravel(), np.arange(a.size)
    codes = np.array([table.get(value_key(v), default) for v in uniques.tolist()], dtype)
    return codes[inverse].reshape(a.shape)
