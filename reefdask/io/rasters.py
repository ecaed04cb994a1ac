"""Read imagery as lazy ``(band, y, x)`` DataArrays from GeoTIFF, COG, VRT and Zarr.

One function, :func:`open_imagery`, serves local paths and every fsspec URL
(``gs://``, ``memory://``, ``http(s)://``). Rasters are read by GDAL through rasterio,
lazily, by byte ranges (nothing is copied whole): local paths directly, ``gs://`` and
``http(s)://`` by GDAL's own ``/vsigs/`` and ``/vsicurl/`` (configured from the same
fsspec options, so the GCS emulator works), other fsspec URLs (``memory://``) through
rasterio's Python opener, serialised by a lock because that opener is not thread-safe
(see :mod:`reefdask.io.raster_open`).

Why not ``rioxarray.open_rasterio(..., chunks=...)``: it shares one open dataset
between the threads of a worker (unsafe with ``lock=False`` on a file object) and
puts that handle in the graph. Here each chunk task opens the raster itself, reads
its window (and the alpha band's), applies the nodata policy and closes it, so the
graph holds only the URL and plain options: picklable, thread-safe, and the same on
the threaded scheduler, a LocalCluster or SLURM workers. CRS and transform are kept
the rioxarray way (a ``spatial_ref`` coordinate), so ``da.rio`` works on the result.

Nodata follows :mod:`reefdask.core.nodata`: an alpha band (GDAL colour interpretation
ALPHA, or the 4th band of 4-band uint8 RGB imagery) or an internal mask is consumed,
pixels it marks become nodata in every band, and it is dropped.

:func:`write_cog` (in :mod:`reefdask.io.cog`), :func:`normalise_chunks` and
:func:`band_selection` (in :mod:`reefdask.io.bands`) are re-exported here. Zarr groups are
read by :mod:`reefdask.io.zarr_imagery`, cube scenes by the reader :mod:`reefdask.cube.store`
registers there (this layer does not import the cube).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import dask.array as dsa
import numpy as np
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from dask.base import tokenize
from rasterio.enums import ColorInterp
from rasterio.windows import Window

from reefdask.core.nodata import apply_alpha, imagery_nodata, mask_source
from reefdask.errors import ConfigError, InputNotFoundError, MissingCRSError, NotARasterError
from reefdask.io.bands import BandSpec, as_list, band_selection, normalise_chunks
from reefdask.io.cog import write_cog
from reefdask.io.raster_open import open_dataset
from reefdask.io.storage import filesystem, is_local_fs, storage_options_for
from reefdask.io.zarr_imagery import open_zarr_imagery

__all__ = ["open_imagery", "write_cog", "raster_grid", "normalise_chunks", "band_selection"]


def open_imagery(
    url: str | os.PathLike[str],
    *,
    chunks: int | tuple[int, int] | dict[str, int] = 1024,
    bands: BandSpec = None,
    storage_options: dict[str, Any] | None = None,
    alpha: bool | None = None,
) -> xr.DataArray:
    """Open a raster or an imagery Zarr lazily as a ``(band, y, x)`` DataArray.

    Parameters
    ----------
    url
        A local path or fsspec URL of a GeoTIFF/COG/VRT, a reefdask cube scene
        (``store/SCENE``), a single-scene cube, or a Zarr group with an ``imagery``
        variable.
    chunks
        Chunk size along ``y`` and ``x`` (an int, a ``(y, x)`` pair or a dict); the
        band axis is never split.
    bands
        Bands to keep: 1-based numbers as GDAL counts them, or names (descriptions or
        colour interpretations such as ``"red"``). ``None`` keeps every data band.
    storage_options
        fsspec options (merged with the GCS emulator's when one is configured).
    alpha
        ``None`` detects an alpha band or internal mask; ``False`` reads every band as
        data; ``True`` insists on an alpha band (the last band when none is tagged).

    Returns
    -------
    xarray.DataArray
        Dask-backed, with ``band`` (1-based numbers), ``y``, ``x`` and ``spatial_ref``
        coordinates, ``attrs["nodata"]`` and ``attrs["band_names"]``.

    Raises
    ------
    InputNotFoundError, NotARasterError, MissingCRSError
        Each message names the input and the fix.

    Examples
    --------
    >>> import numpy as np, rasterio, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "rgba.tif")
    >>> data = np.full((4, 8, 8), 200, dtype="uint8"); data[3, :, :2] = 0   # alpha 0 on 2 columns
    >>> with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=4, dtype="uint8",
    ...                    crs="EPSG:3857", transform=rasterio.Affine(10, 0, 0, 0, -10, 80)) as f:
    ...     f.write(data)
    >>> da = open_imagery(path, chunks=4)
    >>> da.dims, da.sizes["band"], da.attrs["nodata"], da.attrs["band_names"]
    (('band', 'y', 'x'), 3, 0, ['red', 'green', 'blue'])
    >>> int(da[0, 0, 0]), int(da[0, 0, 5]), da.rio.crs.to_epsg(), da.chunks[1]
    (0, 200, 3857, (4, 4))
    """
    url = os.fspath(url)
    cy, cx = normalise_chunks(chunks)
    opts = storage_options_for(url, storage_options)
    fs, path = filesystem(url, opts)
    if is_local_fs(fs):
        if not os.path.exists(path):
            raise InputNotFoundError(f"{url} does not exist; check the path (and that the file was copied).")
    elif not fs.exists(path):
        raise InputNotFoundError(
            f"{url} does not exist; check the URL, the bucket name and your credentials or emulator settings."
        )
    if fs.isdir(path):  # Zarr: a plain group here, a cube scene through the reader cube registers
        return open_zarr_imagery(url, chunks=(cy, cx), bands=bands, storage_options=opts)
    return _open_raster(url, fs, path, (cy, cx), bands, opts, alpha)


@dataclass(frozen=True)
class _Source:
    """Everything a chunk task needs to read its window: plain, picklable values."""

    url: str
    storage_options: dict[str, Any]
    indexes: tuple[int, ...]
    mask: str  # "none", "alpha" or "internal"
    alpha_index: int
    nodata: Any
    dtype: str


def _read_block(source: _Source, block_info: Any = None) -> np.ndarray:
    """Read one ``(band, y, x)`` block of ``source``; the alpha band or mask becomes nodata."""
    (_, _), (y0, y1), (x0, x1) = block_info[None]["array-location"]
    window = Window(x0, y0, x1 - x0, y1 - y0)
    problem = None
    with open_dataset(source.url, source.storage_options) as ds:
        try:
            data = ds.read(list(source.indexes), window=window)
            if source.mask == "none":
                return data
            if source.mask == "alpha":
                mask = ds.read(source.alpha_index, window=window)
            else:
                mask = ds.read_masks(source.indexes[0], window=window)
        except rasterio.errors.RasterioIOError as err:
            problem = (
                f"{source.url} is corrupt in rows {y0}:{y1}, columns {x0}:{x1} ({err}); re-copy the file."
            )
    if problem is not None:
        # raised outside the handler: rasterio's chained CPLE errors (kept as __context__ even
        # with `from None`) do not survive the trip back from a worker, and distributed would
        # hand the client a bare Exception instead of this error
        raise NotARasterError(problem)
    return apply_alpha(data, mask, source.nodata)


def raster_grid(height: int, width: int, transform: Any) -> dict[str, np.ndarray]:
    """Pixel-centre ``y`` and ``x`` coordinates of a north-up grid, as rioxarray makes them.

    >>> from affine import Affine
    >>> g = raster_grid(2, 3, Affine(10, 0, 100, 0, -10, 50))
    >>> g["x"].tolist(), g["y"].tolist()
    ([105.0, 115.0, 125.0], [45.0, 35.0])
    """
    x = transform.c + transform.a * (np.arange(width) + 0.5)
    y = transform.f + transform.e * (np.arange(height) + 0.5)
    return {"y": y, "x": x}


def _band_names(ds: Any) -> list[str]:
    names = []
    for i, (desc, ci) in enumerate(zip(ds.descriptions, ds.colorinterp, strict=True), start=1):
        if desc:
            names.append(str(desc))
        elif ci not in (ColorInterp.undefined, ColorInterp.gray) or ds.count == 1:
            names.append(ci.name)
        else:
            names.append(f"band{i}")
    return names


def _open_raster(
    url: str,
    fs: Any,
    path: str,
    chunks: tuple[int, int],
    bands: BandSpec,
    opts: dict[str, Any],
    alpha: bool | None,
) -> xr.DataArray:
    with open_dataset(url, opts) as ds:
        if ds.crs is None:
            raise MissingCRSError(
                f"{url} has no coordinate reference system; assign one (e.g. `gdal_edit.py -a_srs "
                "EPSG:3857 FILE`, or rasterio's `dst.crs = ...`) and open it again."
            )
        mask, alpha_index = mask_source(ds, alpha)  # the one alpha rule
        numbers = [i for i in range(1, ds.count + 1) if not (mask == "alpha" and i == alpha_index)]
        all_names = _band_names(ds)
        names = [all_names[i - 1] for i in numbers]
        if bands is not None and mask == "alpha" and alpha_index in as_list(bands):
            raise ConfigError(
                f"band {alpha_index} of {url} is its alpha band, consumed as the nodata mask; "
                "leave it out of bands=, or pass alpha=False to read it as data."
            )
        picked = band_selection(bands, names, numbers, url)
        numbers, names = [numbers[i] for i in picked], [names[i] for i in picked]
        dtype = np.dtype(ds.dtypes[numbers[0] - 1])
        if len({ds.dtypes[i - 1] for i in numbers}) > 1:
            raise NotARasterError(f"{url} mixes band types {set(ds.dtypes)}; select bands of one type.")
        nodata = imagery_nodata(ds.nodata, dtype, mask != "none")
        height, width, transform, crs = ds.height, ds.width, ds.transform, ds.crs
    source = _Source(url, opts, tuple(numbers), mask, alpha_index, _plain(nodata, dtype), dtype.str)
    try:
        ukey = fs.ukey(path)
    except Exception:  # some filesystems cannot hash an object; the URL alone names it then
        ukey = None
    stem = os.path.splitext(os.path.basename(path.rstrip("/")))[0]
    name = f"read-{stem}-{tokenize(url, ukey, source, chunks)}"  # dashboard: read-L15-0123E-0456N-…
    ychunks = _split(height, chunks[0])
    xchunks = _split(width, chunks[1])
    array = dsa.map_blocks(
        _read_block,
        source,
        chunks=((len(numbers),), ychunks, xchunks),
        dtype=dtype,
        meta=np.empty((0, 0, 0), dtype=dtype),
        name=name,
    )
    da = xr.DataArray(
        array,
        dims=("band", "y", "x"),
        name="imagery",
        coords={"band": np.asarray(numbers, dtype="int64"), **raster_grid(height, width, transform)},
        attrs={"nodata": source.nodata, "band_names": names, "long_name": tuple(names), "source": url},
    )
    return da.rio.write_crs(crs).rio.write_transform(transform)


def _plain(nodata: Any, dtype: np.dtype) -> Any:
    """Nodata as a plain Python number of the imagery's kind (ints stay ints)."""
    if nodata is None:
        return None
    if dtype.kind in "iu" and float(nodata).is_integer():
        return int(nodata)
    return float(nodata)


def _split(size: int, chunk: int) -> tuple[int, ...]:
    full, rest = divmod(size, chunk)
    return (chunk,) * full + ((rest,) if rest else ())
