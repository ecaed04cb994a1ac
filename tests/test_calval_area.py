"""Pixel ground areas against pyproj's geodesic polygon areas (an independent computation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Geod, Transformer

from reefdask.calval.area import PixelAreas, row_areas, zone_area
from reefdask.core.grid import Quad
from reefdask.errors import MissingCRSError, ReefdaskError

GEOD = Geod(ellps="WGS84")


def _geodesic_km2(corners_xy, crs):
    """Area of a polygon given by projected corners, densified so edges follow the grid lines."""
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    xs, ys = [], []
    for (x0, y0), (x1, y1) in zip(corners_xy, corners_xy[1:] + corners_xy[:1], strict=True):
        t = np.linspace(0, 1, 50, endpoint=False)
        xs.extend(x0 + (x1 - x0) * t)
        ys.extend(y0 + (y1 - y0) * t)
    lon, lat = to_ll.transform(np.array(xs), np.array(ys))
    area, _ = GEOD.polygon_area_perimeter(lon, lat)
    return abs(area) / 1e6


@pytest.mark.parametrize("lat", [0.0, 10.0, -17.2, 23.5, 45.0, -60.0, 75.0])
@pytest.mark.parametrize("size", [1, 64])
def test_mercator_pixel_area_matches_geodesic_area(lat, size):
    quad = Quad.from_lonlat(-87.5, lat)
    t = quad.transform()  # 4.777 m pixels
    px = t.a
    _, y = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(0.0, lat)
    row0 = int((t.f - y) / px)
    areas = PixelAreas(t, "EPSG:3857", width=4096)
    got = areas.rows(row0, row0 + size).sum() * size  # a size x size block of pixels
    x0, y0 = t.c, t.f + t.e * row0
    x1, y1 = t.c + t.a * size, t.f + t.e * (row0 + size)
    want = _geodesic_km2([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], "EPSG:3857")
    assert got == pytest.approx(want, rel=1e-3)
    # and the cos² law holds to first order (sphere vs ellipsoid differ by < 1 %)
    eq = PixelAreas(Quad.from_lonlat(0, 0).transform(), "EPSG:3857").rows(2048, 2049)[0]
    ratio = areas.rows(row0, row0 + 1)[0] / eq
    assert ratio == pytest.approx(math.cos(math.radians(lat)) ** 2, rel=2e-2)


@pytest.mark.parametrize("lat", [-40.0, 0.0, 33.3, 70.0])
def test_geographic_grid_pixel_area(lat):
    res = 0.001
    t = (res, 0.0, 10.0, 0.0, -res, lat + 0.05)
    got = PixelAreas(t, "EPSG:4326", width=10).rows(0, 100)
    for r in (0, 50, 99):
        top, bot = lat + 0.05 - r * res, lat + 0.05 - (r + 1) * res
        lon = np.r_[
            np.linspace(10, 10 + res, 20),
            np.full(20, 10 + res),
            np.linspace(10 + res, 10, 20),
            np.full(20, 10),
        ]
        lt = np.r_[np.full(20, top), np.linspace(top, bot, 20), np.full(20, bot), np.linspace(bot, top, 20)]
        want = abs(GEOD.polygon_area_perimeter(lon, lt)[0]) / 1e6
        assert got[r] == pytest.approx(want, rel=1e-3)


def test_projected_utm_grid_uses_the_scale_factor():
    crs = "EPSG:32616"  # UTM 16N (Belize)
    t = (10.0, 0.0, 300_000.0, 0.0, -10.0, 1_950_000.0)
    got = PixelAreas(t, crs, width=100).rows(0, 100)
    x0, y0, x1, y1 = 300_000.0 + 450, 1_950_000.0 - 500, 300_000.0 + 550, 1_950_000.0 - 600
    want = _geodesic_km2([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], crs) / 100  # 10 x 10 pixels of row ~50-59
    assert got[50:60].mean() == pytest.approx(want, rel=1e-3)
    assert row_areas(t, crs, 3, 100).shape == (3,)


def test_zone_area_totals_the_ellipsoid():
    total = 2 * 2 * math.pi * float(zone_area(90.0))  # both hemispheres, all longitudes
    assert total / 1e6 == pytest.approx(510_065_621.7, rel=1e-9)  # WGS84 surface area, km²
    sphere = 2 * 2 * math.pi * float(zone_area(90.0, a=6371008.8, inv_f=0))
    assert sphere == pytest.approx(4 * math.pi * 6371008.8**2)


def test_errors_and_pickling():
    import pickle

    with pytest.raises(MissingCRSError, match="CRS"):
        PixelAreas((1, 0, 0, 0, -1, 0), None)
    with pytest.raises(ReefdaskError, match="rotated"):
        PixelAreas((1, 0.1, 0, 0, -1, 0), "EPSG:3857")
    a = PixelAreas((4.77, 0, 0, 0, -4.77, 1e6), "EPSG:3857", width=8)
    b = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.rows(0, 5), b.rows(0, 5))
    assert a.total(5) == pytest.approx(a.rows(0, 5).sum() * 8)
