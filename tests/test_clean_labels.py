"""Labels: exact rasterization of hand-made polygons, class remapping, rasters, per-quad split."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.affinity import affine_transform
from shapely.geometry import Point, Polygon, box

from reefdask.clean.config import LabelSource
from reefdask.clean.labels import (
    Grid,
    build_labels,
    non_land_fraction,
    rasterize_vector,
    remap_raster,
    resolve_mapping,
)
from reefdask.core.classes import default_schema
from reefdask.core.grid import Quad
from reefdask.core.nodata import LABEL_NODATA
from reefdask.errors import ConfigError, SchemaError

SCHEMA = default_schema()
QUAD = Quad.parse("L15-0525E-1122N")
N = 16
GRID = Grid("EPSG:3857", QUAD.transform(size=N), (N, N))

# hand-made polygons in pixel coordinates (col, row); no vertex or edge on a pixel centre
PIXEL_POLYS = [
    ("Reef Crest", Polygon([(1.2, 1.3), (9.7, 2.2), (6.4, 11.6), (2.1, 8.8)])),
    ("Sand", Polygon([(7.3, 6.2), (14.6, 6.9), (13.8, 14.7), (8.2, 13.4)])),  # on top of the first
    ("Unknown", Polygon([(11.2, 0.3), (15.7, 0.4), (15.6, 3.8)])),  # mapped to null -> nodata
    ("Cars", Polygon([(0.2, 13.2), (3.7, 13.3), (3.6, 15.6), (0.3, 15.4)])),  # not in the mapping
    ("Sand", Polygon([(5.05, 14.1), (5.25, 14.1), (5.25, 14.3), (5.05, 14.3)])),  # thinner than a pixel
]
MAPPING = {"Reef Crest": "shallow reef flat", "Sand": 9, "Unknown": None}


def to_map(geom, transform: Affine = GRID.transform):  # pixel -> EPSG:3857
    t = transform
    return affine_transform(geom, [t.a, t.b, t.d, t.e, t.c, t.f])


def expected(all_touched: bool) -> np.ndarray:
    table = resolve_mapping(MAPPING, SCHEMA)
    out = np.full((N, N), LABEL_NODATA, dtype="int16")
    for name, poly in PIXEL_POLYS:
        code = table.get(name, LABEL_NODATA)
        for r in range(N):
            for c in range(N):
                if all_touched:
                    hit = box(c, r, c + 1, r + 1).intersection(poly).area > 0
                else:
                    hit = poly.contains(Point(c + 0.5, r + 0.5))
                if hit:
                    out[r, c] = code
    return out


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    gdf = gpd.GeoDataFrame(
        {"class_name": [n for n, _ in PIXEL_POLYS]},
        geometry=[to_map(p) for _, p in PIXEL_POLYS],
        crs="EPSG:3857",
    )
    path = tmp_path / "geomorphology.gpkg"
    gdf.to_file(path, driver="GPKG")
    gdf.to_file(tmp_path / "geomorphology.shp")
    gdf.to_crs("EPSG:4326").to_file(tmp_path / "geomorphology.geojson", driver="GeoJSON")
    return path


@pytest.mark.parametrize("all_touched", [False, True])
def test_rasterize_is_exact(layer: Path, all_touched: bool) -> None:
    table = resolve_mapping(MAPPING, SCHEMA)
    got = rasterize_vector(str(layer), GRID, table, attribute="class_name", all_touched=all_touched)
    want = expected(all_touched)
    assert np.array_equal(got, want)
    assert got.dtype == np.int16
    assert set(np.unique(got).tolist()) <= {LABEL_NODATA, 6, 9}
    # the sub-pixel feature exists only with all_touched
    assert bool(got[14, 5] == 9) is all_touched


def test_all_formats_agree(layer: Path) -> None:
    table = resolve_mapping(MAPPING, SCHEMA)
    ref = rasterize_vector(str(layer), GRID, table, attribute="class_name")
    for ext in ("shp", "geojson"):
        got = rasterize_vector(str(layer.with_suffix(f".{ext}")), GRID, table, attribute="class_name")
        assert np.array_equal(got, ref), ext


def test_large_layer_split_per_quad(tmp_path: Path) -> None:
    east = QUAD.offset(1, 0)
    # one polygon across the boundary of two quads, in pixel coordinates of the western quad
    poly = Polygon([(10.3, 3.2), (27.6, 4.1), (25.2, 12.7), (11.1, 11.9)])
    path = tmp_path / "wide.gpkg"
    gpd.GeoDataFrame({"c": [5]}, geometry=[to_map(poly)], crs="EPSG:3857").to_file(path)
    table = resolve_mapping(None, SCHEMA)
    both = Grid("EPSG:3857", GRID.transform, (N, 2 * N))
    whole = rasterize_vector(str(path), both, table, attribute="c")
    west_part = rasterize_vector(str(path), GRID, table, attribute="c")
    east_part = rasterize_vector(
        str(path), Grid("EPSG:3857", east.transform(size=N), (N, N)), table, attribute="c"
    )
    assert np.array_equal(np.concatenate([west_part, east_part], axis=1), whole)
    assert (west_part == 5).any() and (east_part == 5).any()
    far = Grid("EPSG:3857", Quad(100, 100).transform(size=N), (N, N))  # outside the layer: nothing read
    assert (rasterize_vector(str(path), far, table, attribute="c") == LABEL_NODATA).all()


def _write_raster(path: Path, data: np.ndarray, transform: Affine, nodata: int | None = -1) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype="int16", crs="EPSG:3857", transform=transform, nodata=nodata) as ds:  # fmt: skip
        ds.write(data, 1)
    return path


def test_raster_labels_remapped_and_regridded(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    coarse = rng.choice([10, 20, 30, -1], size=(N, N)).astype("int16")
    table = resolve_mapping({10: "land", 20: "forereef", "30": None}, SCHEMA)
    lut = {10: 1, 20: 5, 30: LABEL_NODATA, -1: LABEL_NODATA}
    want = np.vectorize(lut.get)(coarse).astype("int16")
    same = _write_raster(tmp_path / "same.tif", coarse, GRID.transform)
    assert np.array_equal(remap_raster([str(same)], GRID, table), want)
    # a 2x finer raster with constant 2x2 blocks: nearest resampling onto the quad grid
    fine = np.kron(coarse, np.ones((2, 2), dtype="int16"))
    finer = _write_raster(tmp_path / "fine.tif", fine, QUAD.transform(size=2 * N))
    assert np.array_equal(remap_raster([str(finer)], GRID, table), want)


def test_build_labels_layers_in_order_and_identity_mapping(layer: Path, tmp_path: Path) -> None:
    codes = np.full((N, N), 3, dtype="int16")  # deep water everywhere ...
    codes[0, 0] = 99  # ... except a value that is no class: nodata
    _write_raster(tmp_path / f"{QUAD.id}.tif", codes, GRID.transform, nodata=None)
    sources = [
        LabelSource(kind="raster", path=str(tmp_path / "L15-*.tif")),
        LabelSource(kind="vector", path=str(layer), attribute="class_name", mapping=MAPPING),
    ]
    got = build_labels(sources, GRID, QUAD.id, SCHEMA, all_touched=False)
    vec = expected(False)
    assert np.array_equal(got[vec != LABEL_NODATA], vec[vec != LABEL_NODATA])
    rest = (vec == LABEL_NODATA) & ~((np.arange(N)[:, None] == 0) & (np.arange(N)[None] == 0))
    assert (got[rest] == 3).all() and got[0, 0] == LABEL_NODATA
    assert non_land_fraction(got, [1, 12]) == pytest.approx((got != LABEL_NODATA).mean())


def test_mapping_errors(layer: Path) -> None:
    with pytest.raises(SchemaError, match="not a code"):
        resolve_mapping({"x": 99}, SCHEMA)
    with pytest.raises(SchemaError, match="No class named"):
        resolve_mapping({"x": "coral garden"}, SCHEMA)
    with pytest.raises(ConfigError, match="no attribute 'klass'"):
        rasterize_vector(str(layer), GRID, {}, attribute="klass")
