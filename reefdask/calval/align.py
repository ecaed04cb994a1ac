"""Explicit alignment of a reference map onto the evaluation grid (nearest neighbour).

Raster files are warped lazily, chunk by chunk: each task opens the source through a
GDAL ``WarpedVRT`` on exactly its own destination window, so memory stays bounded by
the chunk size whatever the size of the reference. Other sources (Zarr) are reprojected
with rioxarray, which holds the reference in memory (the note says so).
Nearest neighbour only selects pixels, so warping raw codes and then mapping them to
the evaluation level gives the same map as the other way round.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reefdask.calval.maps import NODATA, Grid, MapSpec, wrap

__all__ = ["align_reference"]


def align_reference(
    spec: MapSpec, schema: Any, level: str, grid: Grid, opened: Any, *, chunks: int = 1024
) -> tuple[Any, str]:
    """``(aligned DataArray at level, note)``: ``spec`` on ``grid`` by nearest neighbour.

    ``opened`` is the reference as :func:`~reefdask.calval.maps.open_class_map` returned
    it (used for sources that are not plain raster files).
    """
    src_grid = Grid.of(opened)
    how = (
        f"from ({src_grid.describe()}) onto the prediction grid ({grid.describe()}) "
        "with nearest-neighbour resampling"
    )
    if _is_raster_file(spec.url):
        raw = _warp_lazy(spec.url, grid, chunks, spec.nodata)
        source_level = spec.level or schema.levels[0]
        data = schema.remap(raw, level, NODATA, from_level=source_level, src_nodata=_OUTSIDE)
        out = wrap(data, grid)
        out.attrs = {"nodata": NODATA, "source": spec.url}
        return out, f"Reference {spec.url} warped lazily, chunk by chunk, {how}."
    return _reproject_in_memory(opened, grid), f"Reference {spec.url} reprojected in memory {how}."


_OUTSIDE = -32768  # destination pixels outside the source, and source nodata


def _is_raster_file(url: str) -> bool:
    from reefdask.calval.maps import _is_zarr, is_vector

    return not is_vector(url) and not _is_zarr(url)


def _warp_lazy(url: str, grid: Grid, chunks: int, nodata: float | None) -> Any:
    import dask.array as dsa

    blank = dsa.zeros(grid.shape, chunks=chunks, dtype=bool)
    return blank.map_blocks(_warp_block, url, grid, nodata, dtype=np.int32, token="calval-warp")


def _warp_block(blank: Any, url: str, grid: Grid, nodata: Any, block_info: Any = None) -> Any:
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    (r0, r1), (c0, c1) = block_info[0]["array-location"]
    t = Affine(*grid.transform) @ Affine.translation(c0, r0)
    with rasterio.open(url) as src:
        src_nodata = src.nodata if nodata is None else nodata
        with WarpedVRT(
            src,
            crs=grid.crs,
            transform=t,
            width=c1 - c0,
            height=r1 - r0,
            resampling=Resampling.nearest,
            src_nodata=src_nodata,
            nodata=_OUTSIDE,  # also where the source does not reach, even without a source nodata
            dtype="float64" if np.dtype(src.dtypes[0]).kind == "f" else "int32",
        ) as vrt:
            data = vrt.read(1, masked=True)
    out = np.asarray(data.filled(_OUTSIDE) if np.ma.isMaskedArray(data) else data)
    if out.dtype.kind == "f":
        out = np.where(np.isfinite(out), out, _OUTSIDE)
    return out.astype(np.int32)


def _reproject_in_memory(da: Any, grid: Grid) -> Any:
    from affine import Affine
    from rasterio.enums import Resampling

    from reefdask.io.rasters import raster_grid

    t = Affine(*grid.transform)
    out = da.rio.write_nodata(NODATA).rio.reproject(
        grid.crs, shape=grid.shape, transform=t, resampling=Resampling.nearest, nodata=NODATA
    )
    coords = raster_grid(grid.shape[0], grid.shape[1], t)
    out = out.assign_coords(y=coords["y"], x=coords["x"])
    out.attrs = {"nodata": NODATA, "source": da.attrs.get("source")}
    cy, cx = da.data.chunksize if hasattr(da.data, "chunksize") else (1024, 1024)
    return out.astype(np.uint8).chunk({"y": cy, "x": cx})
