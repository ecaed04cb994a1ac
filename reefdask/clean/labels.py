"""Labels onto the exact grid of an imagery quad: rasterize polygons, remap classes.

Each :class:`~reefdask.clean.config.LabelSource` is burnt onto the grid (CRS,
transform, shape) of the matching cleaned imagery quad, in order: later sources
overwrite earlier ones where they have a class (supplementary layers go last).

* **Vector** layers (GeoJSON, Shapefile, GeoPackage; read with pyogrio) are read per quad
  with a bounding-box filter, so a large layer is split per quad and never loaded
  whole; features are reprojected to the quad's CRS and rasterized with rasterio.
  The rule is GDAL's **pixel-centre rule**: a pixel takes a polygon's class when its
  centre lies inside the polygon. With ``all_touched`` every pixel that the polygon
  touches is burnt (thin features survive, areas grow by up to a pixel all round).
  Within one layer, later features overwrite earlier ones, and a feature of a dropped
  class burns nodata (its area is of no trusted class); across layers, a later layer
  overwrites only where it has a class.
* **Raster** labels are resampled with nearest neighbour onto the grid when they are on
  another grid, and remapped with the same table.
* The **mapping** sends attribute (or raster) values to classes of the schema, by name
  or detailed code; values mapped to ``null`` and values absent from the mapping become
  nodata (:data:`~reefdask.core.nodata.LABEL_NODATA`, -9999, int16). Without a mapping the
  values must already be detailed codes.

Examples
--------
>>> from reefdask.core.classes import default_schema
>>> table = resolve_mapping({"Reef Crest": "shallow reef flat", "Sand": 9, 1.0: "land", "Unknown": None},
...                         default_schema())
>>> table["Reef Crest"], table["Sand"], table["1"], table["Unknown"]
(6, 9, 1, -9999)
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reefdask.core.lut import lookup_values, value_key
from reefdask.core.nodata import LABEL_NODATA
from reefdask.errors import ConfigError, InputNotFoundError, SchemaError

__all__ = ["Grid", "resolve_mapping", "rasterize_vector", "remap_raster", "build_labels", "non_land_fraction"]


@dataclass(frozen=True)
class Grid:
    """The pixel grid of one quad: CRS, affine transform, ``(height, width)``."""

    crs: Any
    transform: Any
    shape: tuple[int, int]

    @classmethod
    def of(cls, path: str) -> Grid:
        """The grid of a raster file."""
        import rasterio

        with rasterio.open(path) as ds:
            return cls(ds.crs, ds.transform, (ds.height, ds.width))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in the grid's CRS."""
        from rasterio.transform import array_bounds

        west, south, east, north = array_bounds(self.shape[0], self.shape[1], self.transform)
        return west, south, east, north


def resolve_mapping(mapping: dict[Any, Any] | None, schema: Any) -> dict[str, int]:
    """``{str(value): detailed code or LABEL_NODATA}``; without a mapping, the schema's codes."""
    if mapping is None:
        return {str(c): int(c) for c in schema.codes}
    out = {}
    for value, target in mapping.items():
        if target is None:
            code = LABEL_NODATA
        elif isinstance(target, int):
            if target not in schema.codes:
                raise SchemaError(f"mapping {value!r} -> {target}: {target} is not a code of the schema "
                                  f"({list(schema.codes)}); use one of them or a class name.")  # fmt: skip
            code = target
        else:
            code = schema.code_of(str(target))
        out[value_key(value)] = int(code)
    return out


def rasterize_vector(
    path: str,
    grid: Grid,
    table: dict[str, int],
    *,
    attribute: str | None,
    layer: str | None = None,
    all_touched: bool = False,
) -> np.ndarray:
    """Burn the features of a vector layer that fall on ``grid`` (int16, nodata elsewhere)."""
    import pyogrio
    from pyproj import Transformer
    from rasterio.features import rasterize

    info = _layer_info(path, layer)
    west, south, east, north = grid.bounds
    layer_crs = info["crs"] or "EPSG:4326"
    if layer_crs != grid.crs:
        tr = Transformer.from_crs(grid.crs, layer_crs, always_xy=True)
        west, south, east, north = tr.transform_bounds(west, south, east, north, densify_pts=21)
    bbox = (west, south, east, north)
    if not _overlaps(bbox, info["total_bounds"]):
        return np.full(grid.shape, LABEL_NODATA, dtype="int16")
    columns = [attribute] if attribute else []
    gdf = pyogrio.read_dataframe(path, layer=layer, bbox=bbox, columns=columns)
    if gdf.empty:
        return np.full(grid.shape, LABEL_NODATA, dtype="int16")
    if gdf.crs is None:
        gdf = gdf.set_crs(layer_crs)
    gdf = gdf.to_crs(grid.crs)
    if attribute is not None and attribute not in gdf.columns:
        raise ConfigError(f"{path} has no attribute {attribute!r}; use one of {list(gdf.columns[:-1])}.")
    values = gdf[attribute].to_numpy() if attribute else np.ones(len(gdf), dtype=int)
    codes = lookup_values(values, table, LABEL_NODATA)
    shapes = [
        (g, int(c)) for g, c in zip(gdf.geometry, codes, strict=True) if g is not None and not g.is_empty
    ]
    out = rasterize(
        shapes, out_shape=grid.shape, transform=grid.transform, fill=LABEL_NODATA,
        all_touched=all_touched, dtype="int16",
    ) if shapes else np.full(grid.shape, LABEL_NODATA, dtype="int16")  # fmt: skip
    return out


_INFO_CACHE: dict[tuple[str, str | None], dict[str, Any]] = {}


def _layer_info(path: str, layer: str | None) -> dict[str, Any]:
    import pyogrio

    key = (path, layer)
    if key not in _INFO_CACHE:
        try:
            info = pyogrio.read_info(path, layer=layer, force_total_bounds=True)
        except pyogrio.errors.DataSourceError as err:
            raise InputNotFoundError(
                f"Cannot read vector labels {path}: {err}. Check the path and format."
            ) from None
        _INFO_CACHE[key] = {"crs": info.get("crs"), "total_bounds": tuple(info.get("total_bounds", ()))}
    return _INFO_CACHE[key]


def _overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    if len(b) != 4 or not np.all(np.isfinite(b)):
        return True
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])


def remap_raster(paths: Sequence[str], grid: Grid, table: dict[str, int]) -> np.ndarray:
    """Remap label rasters and put them on ``grid`` (nearest); later files win where valid."""
    import rasterio
    from rasterio.warp import Resampling, reproject

    out = np.full(grid.shape, LABEL_NODATA, dtype="int16")
    for path in paths:
        with rasterio.open(path) as ds:
            data = ds.read(1)
            same = ds.crs == grid.crs and ds.transform == grid.transform and ds.shape == grid.shape
            src_nodata = ds.nodata
            src_crs, src_transform = ds.crs, ds.transform
        codes = lookup_values(data, table, LABEL_NODATA)  # one lookup per distinct value
        if src_nodata is not None:
            codes[data == src_nodata] = LABEL_NODATA
        if not same:
            warped = np.full(grid.shape, LABEL_NODATA, dtype="int16")
            reproject(codes, warped, src_transform=src_transform, src_crs=src_crs,
                      dst_transform=grid.transform, dst_crs=grid.crs, src_nodata=LABEL_NODATA,
                      dst_nodata=LABEL_NODATA, resampling=Resampling.nearest)  # fmt: skip
            codes = warped
        out = np.where(codes != LABEL_NODATA, codes, out)
    return out


def raster_paths_for(paths: Sequence[str], quad_id: str, grid: Grid) -> list[str]:
    """Label rasters (of a listing) for one quad: those named after it, else those overlapping it."""
    import rasterio

    named = [p for p in paths if quad_id in p.rsplit("/", 1)[-1]]
    if named or not paths:
        return named
    hits = []
    for p in paths:
        with rasterio.open(p) as ds:
            if ds.crs == grid.crs and _overlaps(grid.bounds, tuple(ds.bounds)):
                hits.append(p)
    return hits


def build_labels(
    sources: Sequence[Any],
    grid: Grid,
    quad_id: str,
    schema: Any,
    all_touched: bool,
    listings: dict[str, list[str]] | None = None,
) -> np.ndarray:
    """Burn every label source onto ``grid`` in order; int16 with nodata -9999."""
    out = np.full(grid.shape, LABEL_NODATA, dtype="int16")
    for src in sources:
        table = resolve_mapping(src.mapping, schema)
        if src.kind == "vector":
            layer = rasterize_vector(src.path, grid, table, attribute=src.attribute, layer=src.layer,
                                     all_touched=all_touched)  # fmt: skip
        else:
            paths = (listings or {}).get(src.path)
            if paths is None:
                paths = sorted(glob.glob(src.path, recursive=True))
            layer = remap_raster(raster_paths_for(paths, quad_id, grid), grid, table)
        out = np.where(layer != LABEL_NODATA, layer, out)
    return out


def non_land_fraction(labels: np.ndarray, land_codes: Sequence[int]) -> float:
    """Fraction of the quad's pixels that are valid and not land."""
    valid = labels != LABEL_NODATA
    return float((valid & ~np.isin(labels, list(land_codes))).sum() / labels.size)
