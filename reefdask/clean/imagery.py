"""Clean imagery quads: alpha -> nodata, band selection, downsampling with ONE policy.

The resampling policy is the model contract's, :mod:`reefdask.model.resample`
(:func:`downsample`, :func:`downsample_lazy`, :data:`RESAMPLING`, re-exported here): the
pixels ``reefdask clean`` writes for training are those prediction and the global map
compute from the same quad. Which band is the alpha band, and the nodata value of what
is read, follow the one rule of :mod:`reefdask.core.nodata` (:func:`mask_source`).

Multiple locations
------------------
A quad that sits in several region folders is merged: pixels that are nodata in the
first location (sorted by path) are filled from the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reefdask.core.nodata import imagery_nodata, mask_source, read_masked, valid_mask_array
from reefdask.errors import ConfigError, IncompatibleScenesError
from reefdask.model.resample import RESAMPLING, RESAMPLINGS, downsample, downsample_lazy

__all__ = [
    "RESAMPLING",
    "RESAMPLINGS",
    "downsample",
    "downsample_lazy",
    "alpha_band",
    "clean_imagery",
    "gtiff_profile",
]

_STRIP = 1024  # output rows per read: memory O(strip x width), never a whole quad at once


def alpha_band(ds: Any, alpha: int | str = "auto") -> int | None:
    """1-based index of the alpha band of an open rasterio dataset, or None.

    ``auto``: the rule of :func:`reefdask.core.nodata.mask_source` (the band tagged
    ALPHA, else the 4th band of 4-band uint8 RGB imagery without a nodata value);
    ``none``: no alpha band; an int: that band.
    """
    kind, index = mask_source(ds, alpha)
    return index if kind == "alpha" else None


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
        masks = [mask_source(ds, alpha) for ds in dss]
        keep = _bands_to_keep(first, bands, masks[0][1] if masks[0][0] == "alpha" else None)
        h, w = first.shape
        if h % factor or w % factor:
            raise ConfigError(f"{first.name} is {h} x {w}: not divisible by factor {factor}; use 1 or 2.")
        dtype = np.dtype(first.dtypes[keep[0] - 1])
        src_nodata = imagery_nodata(first.nodata, dtype, any(kind != "none" for kind, _ in masks))
        profile = gtiff_profile(w // factor, h // factor, len(keep), dtype.name, first.crs,
                                first.transform @ Affine.scale(factor), src_nodata)  # fmt: skip
        valid_px = 0
        with rasterio.open(out, "w", **profile) as dst:
            step = _STRIP * factor
            for row in range(0, h, step):
                win = Window(0, row, w, min(step, h - row))
                block = _merged_block(dss, masks, keep, win, src_nodata)
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
    dss: list[Any], masks: list[tuple[str, int]], keep: list[int], win: Any, nodata: float | None
) -> np.ndarray:
    out = None
    for ds, (kind, index) in zip(dss, masks, strict=True):
        data = read_masked(ds, keep, win, kind, index, nodata)
        if out is None:
            out = data
        else:
            empty = ~valid_mask_array(out, nodata)
            out = np.where(empty[None], data, out)
        if valid_mask_array(out, nodata).all():
            break
    assert out is not None
    return out
