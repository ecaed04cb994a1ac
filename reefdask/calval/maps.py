"""Class maps for calval: open rasters, Zarr predictions and vector layers on one grid.

Every map ends up as a lazy ``(y, x)`` uint8 DataArray of class codes **at the
evaluation level** (255 = nodata), georeferenced the rioxarray way:

* a single-band class raster (GeoTIFF/COG/VRT, any integer type, its nodata honoured);
* a prediction Zarr with ``classes (y, x)`` and/or ``probabilities (class, y, x)``
  (uint8 percent, 255 = nodata): probabilities are summed into the groups of the
  evaluation level and the largest group wins;
* vector polygons (GeoJSON, GeoPackage, Shapefile, ...), whose ``field`` holds class
  codes, rasterized chunk by chunk onto a given grid.

Grids that differ are never aligned silently: :func:`check_grid` raises
:class:`~reefdask.errors.GridMismatchError`, and :mod:`reefdask.calval.align` reprojects
with nearest neighbour when asked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from reefdask.errors import ConfigError, GridMismatchError, InputNotFoundError, MissingCRSError

__all__ = [
    "Grid",
    "MapSpec",
    "is_vector",
    "open_class_map",
    "read_vector",
    "rasterize_lazy",
    "check_grid",
    "wrap",
]

NODATA = 255
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".parquet", ".geoparquet")


@dataclass(frozen=True)
class MapSpec:
    """Where a class map is and how to read it."""

    url: str
    level: str | None = None  # level of the codes it holds (default: the schema's finest)
    variable: str | None = None  # Zarr: "classes" or "probabilities" (default: classes when present)
    field: str | None = None  # vectors: attribute holding class codes
    nodata: float | None = None  # override the raster's nodata


@dataclass(frozen=True)
class Grid:
    """CRS (WKT), affine coefficients and shape of a raster grid."""

    crs: str
    transform: tuple[float, ...]
    shape: tuple[int, int]

    @classmethod
    def of(cls, da: Any) -> Grid:
        """The grid of a rioxarray-georeferenced DataArray."""
        return cls(da.rio.crs.to_wkt(), tuple(float(v) for v in tuple(da.rio.transform())[:6]), da.shape[-2:])

    def same_as(self, other: Grid, tol: float = 1e-6) -> bool:
        """Same CRS, shape, and transform to ``tol`` of a pixel."""
        from pyproj import CRS

        if self.shape != other.shape or CRS.from_wkt(self.crs) != CRS.from_wkt(other.crs):
            return False
        a, b = np.array(self.transform), np.array(other.transform)
        px = max(abs(a[0]), abs(a[4]))
        return bool(np.all(np.abs(a - b) <= tol * px))

    def describe(self) -> str:
        """One line: EPSG (or CRS name), shape, pixel size, origin."""
        from pyproj import CRS

        crs = CRS.from_wkt(self.crs)
        name = f"EPSG:{crs.to_epsg()}" if crs.to_epsg() else crs.name
        t = self.transform
        size = f"{self.shape[0]}x{self.shape[1]} px of {t[0]:g} x {abs(t[4]):g}"
        return f"{name}, {size}, origin ({t[2]:g}, {t[5]:g})"


def is_vector(url: str) -> bool:
    """True for vector file names (by suffix)."""
    return str(url).lower().endswith(VECTOR_SUFFIXES)


def _exists(url: str) -> None:
    if "://" not in url and not os.path.exists(url):
        raise InputNotFoundError(
            f"Class map {url} does not exist; check the path in the calval configuration."
        )


def open_class_map(
    spec: MapSpec, schema: Any, level: str, *, grid: Grid | None = None, chunks: int = 1024
) -> Any:
    """Open ``spec`` as a lazy uint8 ``(y, x)`` DataArray of ``level`` codes (255 nodata).

    Vector maps need ``grid`` (the grid of the other map) to be rasterized onto.
    """
    _exists(spec.url)
    source_level = spec.level or schema.levels[0]
    if is_vector(spec.url):
        if grid is None:
            raise ConfigError(
                f"{spec.url} is a vector layer and so is the other map; give at least one raster "
                "(the prediction or the reference) to define the evaluation grid."
            )
        if not spec.field:
            raise ConfigError(
                f"Vector map {spec.url} needs 'field': the attribute that holds the class codes."
            )
        gdf = read_vector(spec.url, grid.crs)
        if spec.field not in gdf.columns:
            raise ConfigError(f"{spec.url} has no attribute {spec.field!r}; it has {list(gdf.columns)}.")
        shapes = [(g, int(v)) for g, v in zip(gdf.geometry, gdf[spec.field], strict=True) if g is not None]
        codes = rasterize_lazy(shapes, grid, chunks=chunks, fill=-1, dtype="int16")
        da = wrap(schema.remap(codes, level, NODATA, from_level=source_level, src_nodata=-1), grid)
        da.attrs["source"] = spec.url
        return da
    if _is_zarr(spec.url):
        return _open_zarr(spec, schema, level, source_level, chunks)
    from reefdask.io.rasters import open_imagery

    img = open_imagery(spec.url, chunks=chunks, alpha=False)
    if img.sizes["band"] != 1:
        raise ConfigError(
            f"{spec.url} has {img.sizes['band']} bands; a class map has one band of class codes."
        )
    nodata = spec.nodata if spec.nodata is not None else img.attrs.get("nodata")
    band = img.isel(band=0, drop=True)
    out = band.copy(data=schema.remap(band.data, level, NODATA, from_level=source_level, src_nodata=nodata))
    out.attrs = {"nodata": NODATA, "source": spec.url}
    return out


def _is_zarr(url: str) -> bool:
    u = str(url).rstrip("/")
    return u.endswith(".zarr") or ("://" not in u and os.path.isdir(u))


def _open_zarr(spec: MapSpec, schema: Any, level: str, source_level: str, chunks: int) -> Any:
    import rioxarray  # noqa: F401  (registers .rio)
    import xarray as xr

    ds = xr.open_zarr(spec.url, consolidated=False, chunks={}, decode_coords="all")
    var = spec.variable or ("classes" if "classes" in ds else "probabilities")
    if var not in ds:
        raise ConfigError(f"{spec.url} has no variable {var!r}; it has {list(ds.data_vars)}.")
    da = ds[var]
    if var == "probabilities":
        codes = [int(c) for c in da.coords["class"].values]
        lut = schema.lut(level, NODATA, from_level=source_level)
        out_codes = np.asarray(schema.level_codes(level), dtype=np.uint8)
        group = np.zeros((len(out_codes), len(codes)), dtype=np.float32)
        for i, code in enumerate(codes):
            if lut[code] != NODATA:
                group[list(out_codes).index(lut[code]), i] = 1.0
        data = da.data.rechunk({0: -1}).map_blocks(
            _argmax_groups, group, out_codes, drop_axis=0, dtype=np.uint8, token="calval-argmax-groups"
        )
        out = da.isel({"class": 0}, drop=True).copy(data=data)
    else:
        nodata = (
            spec.nodata if spec.nodata is not None else da.attrs.get("nodata", da.encoding.get("_FillValue"))
        )
        out = da.copy(data=schema.remap(da.data, level, NODATA, from_level=source_level, src_nodata=nodata))
    out = out.chunk({"y": chunks, "x": chunks})
    crs = out.rio.crs
    out.attrs = {"nodata": NODATA, "source": spec.url, "variable": var}
    if crs is None:
        raise MissingCRSError(
            f"{spec.url} has no CRS (no spatial_ref coordinate); write one with rio.write_crs before saving."
        )
    out = out.rio.write_crs(crs)
    return out


def _argmax_groups(block: np.ndarray, group: np.ndarray, out_codes: np.ndarray) -> np.ndarray:
    """Sum probabilities into groups, keep the largest; nodata: uint8 255 or float NaN."""
    missing = np.isnan(block) if block.dtype.kind == "f" else block == NODATA
    nodata = missing.all(axis=0)
    p = np.where(missing, 0, block).astype(np.float32)
    summed = np.tensordot(group, p, axes=(1, 0))
    out = out_codes[np.argmax(summed, axis=0)]
    out[nodata] = NODATA
    return out


def read_vector(url: str, crs: Any) -> Any:
    """A GeoDataFrame of ``url`` in ``crs`` (layers without a CRS are refused)."""
    import geopandas as gpd

    _exists(url)
    gdf = gpd.read_file(url)
    if gdf.crs is None:
        raise ConfigError(f"{url} has no CRS; save it with one (GeoJSON is EPSG:4326 by definition).")
    return gdf.to_crs(crs)


def rasterize_lazy(
    shapes: list[tuple[Any, int]], grid: Grid, *, chunks: int = 1024, fill: int = 0, dtype: str = "uint8"
) -> Any:
    """Dask array of ``grid``'s shape: each chunk burns only the shapes that touch it."""
    import dask.array as dsa
    from shapely import STRtree

    geoms = [g for g, _ in shapes]
    values = np.asarray([v for _, v in shapes], dtype=np.int64)
    tree = STRtree(geoms)
    h, w = grid.shape
    blank = dsa.zeros((h, w), chunks=chunks, dtype=bool)
    return blank.map_blocks(
        _burn,
        geoms,
        values,
        tree,
        grid.transform,
        fill,
        np.dtype(dtype),
        dtype=dtype,
        token="calval-rasterize",
    )


def _burn(
    blank: Any,
    geoms: Any,
    values: Any,
    tree: Any,
    transform: Any,
    fill: int,
    dtype: Any,
    block_info: Any = None,
) -> Any:
    from affine import Affine
    from rasterio.features import rasterize
    from shapely.geometry import box

    (r0, r1), (c0, c1) = block_info[0]["array-location"]
    t = Affine(*transform) @ Affine.translation(c0, r0)
    shape = (r1 - r0, c1 - c0)
    x0, y0 = t.c, t.f
    x1, y1 = t.c + t.a * shape[1], t.f + t.e * shape[0]
    hits = tree.query(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    if len(hits) == 0:
        return np.full(shape, fill, dtype=dtype)
    hits = np.sort(hits)  # later features win, as in the file order
    return rasterize(
        [(geoms[i], int(values[i])) for i in hits], out_shape=shape, transform=t, fill=fill, dtype=dtype
    )


def wrap(data: Any, grid: Grid) -> Any:
    """A ``(y, x)`` DataArray of ``data`` georeferenced on ``grid`` (rioxarray style)."""
    import xarray as xr
    from affine import Affine

    from reefdask.io.rasters import raster_grid

    t = Affine(*grid.transform)
    da = xr.DataArray(data, dims=("y", "x"), coords=raster_grid(grid.shape[0], grid.shape[1], t))
    return da.rio.write_crs(grid.crs).rio.write_transform(t)


def check_grid(reference: Any, grid: Grid, what: str) -> None:
    """Raise :class:`GridMismatchError` unless ``reference`` lies on ``grid``."""
    ref = Grid.of(reference)
    if not ref.same_as(grid):
        raise GridMismatchError(
            f"The {what} grid ({ref.describe()}) differs from the prediction grid ({grid.describe()}). "
            "reefdask never aligns grids silently: set `align: true` (or align=True) to reproject the "
            "reference onto the prediction grid with nearest neighbour, or resample it yourself."
        )
