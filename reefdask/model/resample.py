"""Downsampling with ONE rule, for training data, prediction and the global map alike.

The reference practice downsampled training imagery with nearest neighbour and the
imagery it applied models to with bilinear: the model saw different pixels in use than
in training. reefdask has one function, :func:`downsample`, used by ``reefdask clean``
for training data, by :func:`downsample_lazy` for the imagery ``predict`` runs on, and
by the global map for quads finer than its grid, with one configurable choice
(``CleanConfig.resampling``, default :data:`RESAMPLING`):

``"average"`` (default)
    each output pixel is the mean of the *valid* input pixels of its ``factor x factor``
    block. Integer imagery keeps its type and rounds **half up** (``floor(mean + 0.5)``:
    a mean of 2.5 is 3, never 2 as NumPy's half-to-even ``rint`` would give); floats keep
    the mean. A block without any valid pixel is nodata. A valid mean that equals nodata
    in every band is **nudged** by one in its first band (as
    :func:`reefdask.core.nodata.apply_alpha` does), so a valid block never turns into
    nodata.
``"nearest"``
    each output pixel is the input pixel at offset ``(factor // 2, factor // 2)`` of its
    block (nodata if that pixel is nodata).

Blocks never straddle: a chunk whose sides are multiples of ``factor`` downsamples to
exactly the same pixels as the whole scene, so tiled application matches training.

Examples
--------
>>> import numpy as np
>>> a = np.array([[[10, 20, 0, 0], [30, 41, 0, 7]]], dtype="uint8")   # (band, y, x), nodata 0
>>> downsample(a, 2, "average", nodata=0).tolist()
[[[25, 7]]]
>>> downsample(a, 2, "nearest", nodata=0).tolist()
[[[41, 7]]]
>>> downsample(np.array([[[2, 3], [2, 3]]], "uint8"), 2, nodata=None).tolist()   # 2.5 rounds up
[[[3]]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reefdask.core.nodata import is_nan, nudge, valid_mask_array
from reefdask.errors import ConfigError

__all__ = ["RESAMPLING", "RESAMPLINGS", "downsample", "downsample_lazy"]

#: the default resampling policy, for training data and application alike
RESAMPLING = "average"
RESAMPLINGS = ("average", "nearest")


def downsample(
    bands: np.ndarray, factor: int, method: str = RESAMPLING, nodata: float | None = 0
) -> np.ndarray:
    """Downsample ``(band, y, x)`` by an integer ``factor`` with the reefdask policy."""
    if method not in RESAMPLINGS:
        raise ConfigError(f"Unknown resampling {method!r}; use one of {RESAMPLINGS}.")
    if factor == 1:
        return bands
    b, h, w = bands.shape
    if h % factor or w % factor:
        raise ConfigError(
            f"A {h} x {w} block cannot be downsampled by {factor}; use sides that {factor} divides."
        )
    if method == "nearest":
        off = factor // 2
        return bands[:, off::factor, off::factor].copy()
    blocks = bands.reshape(b, h // factor, factor, w // factor, factor)
    valid = valid_mask_array(bands, nodata).reshape(h // factor, factor, w // factor, factor)
    count = valid.sum(axis=(1, 3))
    total = np.where(valid[None], blocks, 0).sum(axis=(2, 4), dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count[None]
    if np.issubdtype(bands.dtype, np.integer):
        info = np.iinfo(bands.dtype)
        mean = np.clip(np.floor(mean + 0.5), info.min, info.max)  # half up, in the type's range
    if nodata is None:  # every pixel is valid: every block has a mean
        return mean.astype(bands.dtype)
    out = np.where(count[None] > 0, mean, nodata).astype(bands.dtype)
    if not is_nan(nodata):
        out[0] = nudge(out[0], (out == nodata).all(axis=0) & (count > 0), nodata)
    return out


def downsample_lazy(da: Any, factor: int, method: str = RESAMPLING) -> Any:
    """Downsample a ``(band, y, x)`` imagery DataArray lazily with the same policy.

    Chunks are first aligned to multiples of ``factor`` (the band axis stays whole);
    coordinates move to block centres, the transform is rewritten, attrs are kept.
    """
    if factor == 1:
        return da
    import xarray as xr

    ny, nx = da.sizes["y"], da.sizes["x"]
    if ny % factor or nx % factor:
        raise ConfigError(
            f"A {ny} x {nx} scene cannot be downsampled by {factor}; use sides that {factor} divides."
        )
    cy, cx = (max(factor, c[0] - c[0] % factor) for c in da.chunks[1:])
    data = da.data.rechunk({0: -1, 1: cy, 2: cx})
    out_chunks = (data.chunks[0], *(tuple(c // factor for c in cs) for cs in data.chunks[1:]))
    nodata = da.attrs.get("nodata")
    small = data.map_blocks(downsample, factor, method, nodata, dtype=da.dtype, chunks=out_chunks)
    coords = {
        "band": da["band"].values,
        "y": da["y"].coarsen(y=factor).mean().values,
        "x": da["x"].coarsen(x=factor).mean().values,
    }
    out = xr.DataArray(small, dims=da.dims, coords=coords, attrs=dict(da.attrs), name=da.name)
    if "spatial_ref" in da.coords:
        from affine import Affine

        out = out.assign_coords(spatial_ref=da["spatial_ref"])
        out = out.rio.write_transform(da.rio.transform() @ Affine.scale(factor))
    return out
