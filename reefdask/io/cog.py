"""Write Cloud-Optimized GeoTIFFs (GDAL's COG driver) from ``(band, y, x)`` DataArrays.

The array is streamed into a tiled temporary GeoTIFF one row of chunks at a time
(never the whole scene in memory), GDAL's COG driver copies it with internal
overviews, and only the finished file is published: renamed into place locally,
uploaded in one piece to object stores. Readers never see half a COG.

Overviews use ``nearest`` for categorical data (class maps: averaging class codes
makes no sense) and ``average`` for continuous values; the choice is recorded in the
file's ``OVERVIEW_RESAMPLING`` tag.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
import rioxarray  # noqa: F401  (registers the .rio accessor)

from reefdask.core.nodata import get_nodata
from reefdask.errors import ConfigError, MissingCRSError
from reefdask.io.store import store_for, temp_name

__all__ = ["write_cog", "is_categorical"]


def is_categorical(da: Any, categorical: bool | None = None) -> bool:
    """Whether overviews of ``da`` should pick (nearest) rather than average.

    An explicit ``categorical`` wins; else ``attrs["categorical"]``; else single-band
    integer rasters (class maps) are categorical and everything else is continuous.

    >>> import numpy as np, xarray as xr
    >>> is_categorical(xr.DataArray(np.zeros((1, 2, 2), "uint8"), dims=("band", "y", "x")))
    True
    >>> is_categorical(xr.DataArray(np.zeros((3, 2, 2), "uint8"), dims=("band", "y", "x")))
    False
    """
    if categorical is not None:
        return bool(categorical)
    if "categorical" in da.attrs:
        return bool(da.attrs["categorical"])
    return bool(np.dtype(da.dtype).kind in "iub" and (da.ndim == 2 or da.shape[0] == 1))


def write_cog(
    da: Any,
    url: str | os.PathLike[str],
    *,
    categorical: bool | None = None,
    nodata: float | None = None,
    blocksize: int = 512,
    compress: str = "deflate",
    storage_options: dict[str, Any] | None = None,
) -> str:
    """Write ``da`` as a valid Cloud-Optimized GeoTIFF with internal overviews.

    Parameters
    ----------
    da
        ``(band, y, x)`` or ``(y, x)`` DataArray (NumPy or Dask) with a CRS
        (rioxarray's ``spatial_ref``).
    url
        Local path or fsspec URL of the output.
    categorical
        Overview resampling: ``True`` nearest, ``False`` average, ``None`` decided
        by :func:`is_categorical`.
    nodata
        Nodata value to record; default ``attrs["nodata"]`` (the reefdask policy).
    blocksize
        Internal tile size (a multiple of 16; GDAL's COG driver wants at least 128).
    compress
        GDAL compression (``deflate``, ``zstd``, ``lzw``, ``none``...).
    storage_options
        fsspec options for remote URLs.

    Returns
    -------
    str
        ``url``.

    Examples
    --------
    >>> import numpy as np, xarray as xr, rioxarray, tempfile, os
    >>> classes = xr.DataArray(np.arange(512 * 512, dtype="uint8").reshape(1, 512, 512) % 5,
    ...                        dims=("band", "y", "x"),
    ...                        coords={"y": 5115.0 - 10 * np.arange(512), "x": 5.0 + 10 * np.arange(512)})
    >>> classes = classes.rio.write_crs("EPSG:3857")
    >>> path = write_cog(classes, os.path.join(tempfile.mkdtemp(), "c.tif"), blocksize=128)
    >>> with rasterio.open(path) as f:
    ...     f.overviews(1), f.tags()["OVERVIEW_RESAMPLING"]
    ([2, 4], 'NEAREST')
    """
    url = os.fspath(url)
    if blocksize <= 0 or blocksize % 16:
        raise ConfigError(f"blocksize={blocksize} must be a positive multiple of 16, such as 512.")
    if da.ndim == 2:
        da = da.expand_dims("band")
    if da.rio.crs is None:
        raise MissingCRSError(f"The array written to {url} has no CRS; set one with da.rio.write_crs(...).")
    nodata = get_nodata(da) if nodata is None else nodata
    resampling = "NEAREST" if is_categorical(da, categorical) else "AVERAGE"
    names = da.attrs.get("band_names") or da.attrs.get("long_name")
    store, key = store_for(url, storage_options)
    workdir = store.url_for() if store.local else tempfile.gettempdir()
    tmpdir = os.path.join(workdir, temp_name(key))  # beside the key: publishing is a rename
    os.makedirs(tmpdir)
    try:
        staging = os.path.join(tmpdir, "staging.tif")
        _write_tiled(da, staging, nodata, blocksize, resampling, names)
        final = os.path.join(tmpdir, "cog.tif")
        rasterio.shutil.copy(
            staging,
            final,
            driver="COG",
            compress=compress.upper(),
            blocksize=blocksize,
            overview_resampling=resampling,
            bigtiff="IF_SAFER",
            num_threads="ALL_CPUS",
        )
        store.publish_file(key, final, move=True)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return url


def _write_tiled(da: Any, path: str, nodata: Any, blocksize: int, resampling: str, names: Any) -> None:
    """Stream ``da`` into a tiled GeoTIFF, one row of chunks at a time."""
    bands, height, width = (int(s) for s in da.shape)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": bands,
        "dtype": np.dtype(da.dtype).name,
        "crs": da.rio.crs,
        "transform": da.rio.transform(),
        "tiled": True,
        "blockxsize": blocksize,
        "blockysize": blocksize,
        "compress": "zstd",
        "bigtiff": "IF_SAFER",
    }
    if nodata is not None:
        profile["nodata"] = nodata
    rows = da.chunks[1] if da.chunks else (height,)
    with rasterio.open(path, "w", **profile) as dst:
        dst.update_tags(OVERVIEW_RESAMPLING=resampling)
        if names and len(names) == bands:
            for i, name in enumerate(names, start=1):
                dst.set_band_description(i, str(name))
        y0 = 0
        for step in rows:
            block = np.asarray(da[:, y0 : y0 + step, :].values)
            dst.write(block, window=((y0, y0 + step), (0, width)))
            y0 += step
