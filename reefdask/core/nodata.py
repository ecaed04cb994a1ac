"""The one nodata policy of reefdask, used by ingest, training and application alike.

Policy
------
* Imagery keeps its integer type. Its nodata value is recorded in ``attrs["nodata"]``
  (``0`` for the providers' 8-bit visual quads; ``NaN`` for floating-point data).
* A pixel is **nodata when every band equals the nodata value** (or is NaN).
* An alpha band (the providers' RGB + alpha quads: alpha 0 = no data) is consumed on
  read: pixels with alpha 0 become nodata in every band, and the alpha band is dropped.
  Which band is the alpha band is decided by ONE rule, :func:`mask_source`, for every
  reader (``open_imagery``, ``reefdask clean``, training windows): the band whose colour
  interpretation is ALPHA; else the 4th band of 4-band uint8 imagery whose first three
  bands are red, green, blue and which declares no nodata value; else GDAL's internal
  per-dataset mask; else none. The nodata value of what was read is
  :func:`imagery_nodata` (the file's; else ``0`` for masked integers, NaN for floats).
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
    "imagery_nodata",
    "is_nan",
    "mask_source",
    "nudge",
    "read_masked",
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
    fixed = _concat(nudge(bands[0], collide, nodata)[None], bands[1:])
    return _where(alpha[None] == 0, bands.dtype.type(nodata), fixed).astype(bands.dtype)


def nudge(first: Any, collide: Any, nodata: float) -> Any:
    """``first`` (one band) with the pixels where ``collide`` moved one step off ``nodata``.

    The step is +1, or -1 when ``nodata`` is the largest value of an integer type (255
    for uint8), so a valid pixel never wraps around. NumPy or Dask.

    >>> nudge(np.array([255, 7], "uint8"), np.array([True, False]), 255).tolist()
    [254, 7]
    """
    dtype = np.dtype(first.dtype)
    top = np.issubdtype(dtype, np.integer) and nodata >= np.iinfo(dtype).max
    moved = first - dtype.type(1) if top else first + dtype.type(1)
    return _where(collide, moved, first).astype(dtype)


def is_nan(nodata: Any) -> bool:
    """True when ``nodata`` is a NaN (``None`` and numbers are not)."""
    return nodata is not None and isinstance(nodata, float | np.floating) and bool(np.isnan(nodata))


def valid_mask_array(bands: Any, nodata: float | None, axis: int = 0) -> Any:
    """Boolean mask without ``axis`` (the band axis): True where the pixel holds data (NumPy or Dask).

    A pixel is nodata when every band equals ``nodata`` (every band NaN for a NaN nodata);
    with ``nodata=None`` every pixel holds data.
    """
    if nodata is None:
        return (bands == bands).any(axis=axis) | True
    if is_nan(nodata):
        return ~(bands != bands).all(axis=axis)
    return ~(bands == nodata).all(axis=axis)


def mask_source(ds: Any, alpha: bool | int | str | None = None) -> tuple[str, int]:
    """``(kind, alpha band)`` of an open rasterio dataset: the one alpha rule of reefdask.

    ``kind`` is ``"alpha"`` (band ``alpha band``, 1-based, is consumed as the mask),
    ``"internal"`` (GDAL's per-dataset mask) or ``"none"``.

    Parameters
    ----------
    ds
        An open rasterio dataset (read only through ``count``, ``dtypes``, ``nodata``,
        ``colorinterp``, ``mask_flag_enums`` and ``name``).
    alpha
        ``None`` or ``"auto"``: detect (see the module docstring); ``False`` or
        ``"none"``: every band is data; ``True``: insist on an alpha band (the tagged
        one, else the last band); an int: that band is the alpha band.
    """
    from reefdask.errors import ConfigError

    if alpha is False or alpha == "none":
        return "none", 0
    if isinstance(alpha, int | np.integer) and not isinstance(alpha, bool):
        if not 1 <= int(alpha) <= ds.count:
            raise ConfigError(f"alpha band {alpha} is outside bands 1..{ds.count} of {ds.name}; fix `alpha`.")
        return "alpha", int(alpha)
    if alpha not in (None, True, "auto"):
        raise ConfigError(f"alpha={alpha!r} is unknown; use 'auto', 'none' or a band number.")
    interp = [getattr(ci, "name", str(ci)).lower() for ci in ds.colorinterp]
    tagged = [i for i, ci in enumerate(interp, start=1) if ci == "alpha"]
    if tagged:
        return "alpha", tagged[-1]
    rgb = interp[:3] == ["red", "green", "blue"]
    if alpha is True or (ds.count == 4 and ds.dtypes[0] == "uint8" and rgb and ds.nodata is None):
        if ds.count < 2:
            raise ConfigError(f"{ds.name} has one band: it cannot carry an alpha band; drop alpha=True.")
        return "alpha", ds.count
    flags = {getattr(f, "name", str(f)) for f in ds.mask_flag_enums[0]}
    if "per_dataset" in flags and "nodata" not in flags:
        return "internal", 0
    return "none", 0


def imagery_nodata(file_nodata: float | None, dtype: Any, masked: bool) -> float | None:
    """The nodata value of imagery read from a file: the file's; else 0 (integers) or NaN (floats).

    Integer imagery without a mask and without a nodata value has none (``None``).

    >>> [imagery_nodata(None, "u1", True), imagery_nodata(None, "u1", False), imagery_nodata(3, "u1", True)]
    [0, None, 3]
    """
    if file_nodata is not None:
        return file_nodata
    if np.dtype(dtype).kind == "f":
        return float("nan")
    return IMAGERY_NODATA if masked else None


def read_masked(ds: Any, indexes: Any, window: Any, kind: str, alpha_index: int, nodata: Any) -> Any:
    """Read ``indexes`` of ``window`` from ``ds`` and apply its mask (:func:`mask_source`) as nodata."""
    data = ds.read(list(indexes), window=window)
    if kind == "none":
        return data
    if kind == "alpha":
        mask = ds.read(alpha_index, window=window)
    else:
        mask = ds.read_masks(indexes[0], window=window)
    return apply_alpha(data, mask, nodata)


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
