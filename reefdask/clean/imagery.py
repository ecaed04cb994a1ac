"""Clean imagery quads: alpha -> nodata, band selection, downsampling with ONE policy.

The resampling policy
---------------------
The reference practice downsampled training imagery with nearest neighbour and the
imagery it applied models to with bilinear: the model saw different pixels in use than
in training. reefdask has one function, :func:`downsample`, used by ``reefdask clean``
for training data and by application code for the imagery it predicts on, with one
configurable choice (``CleanConfig.resampling``, default :data:`RESAMPLING`):

``"average"`` (default)
    each output pixel is the mean of the *valid* input pixels of its ``factor x factor``
    block, rounded half up and kept in the input's integer type; a block without any
    valid pixel is nodata; a valid mean that equals nodata in every band is nudged by
    one in its first band (as :func:`reefdask.core.nodata.apply_alpha` does).
``"nearest"``
    each output pixel is the input pixel at offset ``(factor // 2, factor // 2)`` of its
    block (nodata if that pixel is nodata).

Blocks never straddle: a chunk whose sides are multiples of ``factor`` downsamples to
exactly the same pixels as the whole scene, so tiled application matches training.
Application code downsamples lazily with :func:`downsample_lazy` (a Dask ``map_blocks`` of
the same function), and gets the pixels that ``reefdask clean`` wrote for training.

Multiple locations
------------------
A quad that sits in several region folders is merged: pixels that are nodata in the
first location (sorted by path) are filled from the next.

Examples
--------
>>> import numpy as np
>>> a = np.array([[[10, 20, 0, 0], [30, 41, 0, 7]]], dtype="uint8")   # (band, y, x), nodata 0
>>> downsample(a, 2, "average", nodata=0).tolist()
[[[25, 7]]]
>>> downsample(a, 2, "nearest", nodata=0).tolist()
[[[41, 7]]]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reefdask.core.nodata import IMAGERY_NODATA, apply_alpha, valid_mask_array
from reefdask.errors import ConfigError, IncompatibleScenesError

__all__ = [
    "RESAMPLING",
    "RESAMPLINGS",
    "downsample",
    "downsample_lazy",
    "alpha_band",
    "clean_imagery",
    "gtiff_profile",
]

#: the default resampling policy, for training data and application alike
RESAMPLING = "average"
RESAMPLINGS = ("average", "nearest")
_STRIP = 1024  # output rows per read: memory O(strip x width), never a whole quad at once


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
    fill = np.nan if nodata is None else nodata
    if np.issubdtype(bands.dtype, np.integer):
        info = np.iinfo(bands.dtype)
        mean = np.clip(np.floor(mean + 0.5), info.min, info.max)
    out = np.where(count[None] > 0, mean, fill)
    if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        collide = (out == nodata).all(axis=0) & (count > 0)
        out[0] = np.where(collide, out[0] + 1, out[0])
    return out.astype(bands.dtype)


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


def alpha_band(ds: Any, alpha: int | str = "auto") -> int | None:
    """1-based index of the alpha band of an open rasterio dataset, or None.

    ``auto``: the band whose colour interpretation is ALPHA, else the 4th band of
    4-band uint8 imagery (the providers' RGB + alpha quads), else none.
    """
    from rasterio.enums import ColorInterp

    if alpha == "none":
        return None
    if isinstance(alpha, int):
        if not 1 <= alpha <= ds.count:
            raise ConfigError(f"alpha band {alpha} is outside bands 1..{ds.count} of {ds.name}; fix `alpha`.")
        return alpha
    for i, ci in enumerate(ds.colorinterp, start=1):
        if ci == ColorInterp.alpha:
            return i
    if ds.count == 4 and ds.dtypes[0] == "uint8":
        return 4
    return None


def _bands_to_keep(ds: Any, bands: Sequence[int] | None, alpha: int | None) -> list[int]:
    keep = [i for i in range(1, ds.count + 1) if i != alpha] if bands is None else list(bands)
    bad = [b for b in keep if not 1 <= b <= ds.count or b == alpha]
    if bad:
        raise ConfigError(
            f"bands {bad} are not image bands of {ds.name} (bands 1..{ds.count}, alpha {alpha})."
        )
    return keep


def clean_imagery(
    sources: Sequence[str | Path],
    out: str | Path,
    *,
    bands: Sequence[int] | None = None,
    alpha: int | str = "auto",
    factor: int = 1,
    resampling: str = RESAMPLING,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write one cleaned quad from one or more locations of it; returns facts about it.

    Reads strips of rows, so memory stays ``O(strip x width)``. The output keeps the
    integer type, has nodata :data:`~reefdask.core.nodata.IMAGERY_NODATA` (no alpha band),
    DEFLATE tiles, and the source grid scaled by ``factor``.
    """
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    dss = [rasterio.open(s) for s in sources]
    try:
        first = dss[0]
        for ds in dss[1:]:
            if (ds.shape, ds.transform, ds.crs) != (first.shape, first.transform, first.crs):
                raise IncompatibleScenesError(f"{ds.name} and {first.name} hold one quad on different grids.")
        alphas = [alpha_band(ds, alpha) for ds in dss]
        keep = _bands_to_keep(first, bands, alphas[0])
        h, w = first.shape
        if h % factor or w % factor:
            raise ConfigError(f"{first.name} is {h} x {w}: not divisible by factor {factor}; use 1 or 2.")
        dtype = np.dtype(first.dtypes[keep[0] - 1])
        src_nodata = first.nodata if first.nodata is not None else IMAGERY_NODATA
        profile = gtiff_profile(w // factor, h // factor, len(keep), dtype.name, first.crs,
                                first.transform @ Affine.scale(factor), src_nodata)  # fmt: skip
        valid_px = 0
        with rasterio.open(out, "w", **profile) as dst:
            step = _STRIP * factor
            for row in range(0, h, step):
                win = Window(0, row, w, min(step, h - row))
                block = _merged_block(dss, alphas, keep, win, src_nodata)
                small = downsample(block, factor, resampling, src_nodata)
                valid_px += int(valid_mask_array(small, src_nodata).sum())
                dst.write(small, window=Window(0, row // factor, w // factor, small.shape[1]))
            dst.update_tags(**(tags or {}))
        return {"valid_fraction": valid_px / (profile["width"] * profile["height"]), "bands": keep}
    finally:
        for ds in dss:
            ds.close()


def gtiff_profile(
    width: int, height: int, count: int, dtype: str, crs: Any, transform: Any, nodata: float | None
) -> dict[str, Any]:
    """The GeoTIFF profile of every clean output: DEFLATE, 256-px tiles when the raster is that big."""
    profile = {"driver": "GTiff", "width": width, "height": height, "count": count, "dtype": dtype,
               "crs": crs, "transform": transform, "nodata": nodata, "compress": "deflate"}  # fmt: skip
    if width >= 256 and height >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    return profile


def _merged_block(
    dss: list[Any], alphas: list[int | None], keep: list[int], win: Any, nodata: float
) -> np.ndarray:
    out = None
    for ds, a in zip(dss, alphas, strict=True):
        data = ds.read(keep, window=win)
        if a is not None:
            data = apply_alpha(data, ds.read(a, window=win), nodata=nodata)
        if out is None:
            out = data
        else:
            empty = ~valid_mask_array(out, nodata)
            out = np.where(empty[None], data, out)
        if valid_mask_array(out, nodata).all():
            break
    assert out is not None
    return out
