"""The one nodata policy of reefdask, used by ingest, training and application alike.

Policy
------
* Imagery keeps its integer type. Its nodata value is recorded in ``attrs["nodata"]``
  (``0`` for the providers' 8-bit visual quads; ``NaN`` for floating-point data).
* A pixel is **nodata when every band equals the nodata value** (or is NaN).
* An alpha band (the providers' RGB + alpha quads: alpha 0 = no data) is consumed on
  read: pixels with alpha 0 become nodata in every band, and the alpha band is dropped.
  A valid pixel that happens to equal the nodata value in every band (pure black) is
  nudged by one in its first band so that it stays valid: the mask is lossless.
* Label rasters use ``LABEL_NODATA`` (-9999, int16), as the reference practice did.
* Model inputs encode nodata as ``MODEL_NODATA`` (-10) *after* scaling; every product
  is nodata wherever its input was.

Examples
--------
>>> import numpy as np
>>> rgb = np.array([[[0, 5]], [[0, 6]], [[0, 7]]], dtype="uint8")   # (band, y, x)
>>> alpha = np.array([[255, 0]], dtype="uint8")
>>> out = apply_alpha(rgb, alpha, nodata=0)
>>> out[:, 0, :].T.tolist()    # the black pixel stays valid, the alpha-0 pixel is nodata
[[1, 0, 0], [0, 0, 0]]
>>> valid_mask_array(out, 0).tolist()
[[True, False]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "IMAGERY_NODATA",
    "LABEL_NODATA",
    "MODEL_NODATA",
    "apply_alpha",
    "get_nodata",
    "valid_mask",
    "valid_mask_array",
]

#: nodata of 8-bit visual imagery after the alpha band is consumed
IMAGERY_NODATA = 0
#: nodata of label rasters (int16)
LABEL_NODATA = -9999
#: how nodata is encoded in model inputs, after scaling
MODEL_NODATA = -10.0


def apply_alpha(bands: Any, alpha: Any, nodata: float = IMAGERY_NODATA) -> Any:
    """Turn alpha == 0 into nodata in every band; keep colliding valid pixels valid.

    Works on NumPy and Dask arrays shaped ``(band, y, x)`` with ``alpha`` ``(y, x)``.
    """
    if np.issubdtype(np.dtype(bands.dtype), np.floating) and np.isnan(nodata):
        return _where(alpha[None] == 0, np.nan, bands)  # NaN is never valid data
    collide = (bands == nodata).all(axis=0) & (alpha != 0)
    first = _where(collide, bands[0] + 1, bands[0])[None]
    fixed = _concat(first, bands[1:])
    return _where(alpha[None] == 0, bands.dtype.type(nodata), fixed).astype(bands.dtype)


def valid_mask_array(bands: Any, nodata: float | None) -> Any:
    """Boolean ``(y, x)``: True where the pixel holds data (NumPy or Dask)."""
    if nodata is None:
        return (bands == bands)[0] | True
    if isinstance(nodata, float) and np.isnan(nodata):
        return ~(bands != bands).all(axis=0)
    return ~(bands == nodata).all(axis=0)


def get_nodata(da: Any) -> float | None:
    """The nodata value of a DataArray: ``attrs["nodata"]``, else rioxarray's, else None."""
    value = da.attrs.get("nodata")
    if value is None:
        value = da.attrs.get("_FillValue", da.encoding.get("_FillValue"))
    return None if value is None else value


def valid_mask(da: Any) -> Any:
    """Boolean ``(y, x)`` DataArray: True where ``da`` (``band, y, x``) holds data."""
    nodata = get_nodata(da)
    if nodata is None:
        return (da.isel(band=0) == da.isel(band=0)) | True
    if isinstance(nodata, float) and np.isnan(nodata):
        return da.notnull().any("band")
    return (da != nodata).any("band")


def _where(cond: Any, a: Any, b: Any) -> Any:
    if _is_dask(cond) or _is_dask(a) or _is_dask(b):
        import dask.array as dsa

        return dsa.where(cond, a, b)
    return np.where(cond, a, b)


def _concat(a: Any, b: Any) -> Any:
    if _is_dask(a) or _is_dask(b):
        import dask.array as dsa

        return dsa.concatenate([a, b], axis=0)
    return np.concatenate([a, b], axis=0)


def _is_dask(x: Any) -> bool:
    return type(x).__module__.startswith("dask")
