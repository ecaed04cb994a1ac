import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reefdask.core.grid import (
    HALF_WORLD,
    Quad,
    lonlat_to_mercator,
    mercator_to_lonlat,
    quads_for_geometry,
    quads_in_bbox,
)
from reefdask.errors import QuadIdError

# independent constants: WGS84 equatorial circumference and the level-15 layout
CIRCUMFERENCE = 2 * math.pi * 6378137.0  # 40,075,016.686 m


def test_world_and_pixel_sizes_from_first_principles():
    assert 2 * HALF_WORLD == pytest.approx(40075016.686, abs=1e-3)
    q = Quad(0, 0)
    assert q.quads_per_side == 2048
    assert q.side == pytest.approx(CIRCUMFERENCE / 2048)
    # zoom-15 slippy-map pixels: C / (256 * 2**15)
    assert q.pixel_size() == pytest.approx(CIRCUMFERENCE / (256 * 2**15))
    assert q.pixel_size() == pytest.approx(4.777, abs=1e-3)
    assert q.pixel_size(2) == pytest.approx(2 * q.pixel_size())
    assert q.shape(4) == (1024, 1024)


def test_corner_quads_and_origin_at_top_left():
    sw = Quad(0, 0)
    assert sw.bounds()[:2] == pytest.approx((-HALF_WORLD, -HALF_WORLD))
    ne = Quad(2047, 2047)
    assert ne.bounds()[2:] == pytest.approx((HALF_WORLD, HALF_WORLD))
    t = ne.transform()
    left, _, _, top = ne.bounds()
    # origin of the affine transform is the quad's top-left corner, rows go south
    assert (t.c, t.f) == pytest.approx((left, top))
    assert t.a > 0 and t.e < 0
    assert t @ (4096, 4096) == pytest.approx((ne.bounds()[2], ne.bounds()[1]))


def test_parse_and_format_round_trip():
    q = Quad.parse("L15-0123E-0456N")
    assert (q.x, q.y, q.level) == (123, 456, 15)
    assert str(q) == "L15-0123E-0456N"
    assert Quad.parse("gs://bucket/mosaic/belize/L15-0123E-0456N.tif") == q


@pytest.mark.parametrize(
    "bad", ["L15-123E-0456N", "L15-0123W-0456N", "quad", "L15-2048E-0000N", "L15-0000E-9999N", ""]
)
def test_bad_ids_are_refused_with_the_form(bad):
    with pytest.raises(QuadIdError, match="L15-0123E-0456N|outside"):
        Quad.parse(bad)


@given(st.integers(0, 2047), st.integers(0, 2047))
def test_id_round_trip_property(x, y):
    q = Quad(x, y)
    assert Quad.parse(q.id) == q
    # the centre of a quad lies in that quad
    left, bottom, right, top = q.bounds()
    assert Quad.containing((left + right) / 2, (bottom + top) / 2) == q


@given(st.floats(-179.9, 179.9), st.floats(-85.0, 85.0))
def test_lonlat_round_trip(lon, lat):
    x, y = lonlat_to_mercator(lon, lat)
    lon2, lat2 = mercator_to_lonlat(x, y)
    assert lon2 == pytest.approx(lon, abs=1e-9)
    assert lat2 == pytest.approx(lat, abs=1e-9)


def test_mercator_against_pyproj():
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    for lon, lat in [(-87.5, 17.2), (145.0, -16.5), (0.0, 0.0), (179.0, 60.0)]:
        assert lonlat_to_mercator(lon, lat) == pytest.approx(tr.transform(lon, lat), abs=1e-6)


def test_quad_contains_known_place():
    # Lighthouse Reef, Belize (~-87.5, 17.2): column from the antimeridian, row from the south
    q = Quad.from_lonlat(-87.5, 17.2)
    assert q.x == int((-87.5 + 180) / 360 * 2048)
    w, s, e, n = q.lonlat_bounds()
    assert w <= -87.5 <= e and s <= 17.2 <= n


def test_neighbours_and_antimeridian_wrap():
    q = Quad(100, 100)
    nb = q.neighbours()
    assert len(nb) == 8 and len(set(nb)) == 8 and q not in nb
    assert {(n.x - q.x, n.y - q.y) for n in nb} == {
        (dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0)
    }
    west_edge = Quad(0, 100).neighbours()
    assert Quad(2047, 100) in west_edge
    assert len(Quad(5, 0).neighbours()) == 5  # southern edge of the square


def test_quads_in_bbox_and_geometry():
    qs = list(quads_in_bbox((-87.6, 17.1, -87.4, 17.3)))
    assert len(qs) == 4
    for q in qs:
        w, s, e, n = q.lonlat_bounds()
        assert w < -87.4 and e > -87.6 and s < 17.3 and n > 17.1
    one = Quad(526, 1123)
    exact = list(quads_in_bbox(one.bounds(), crs="EPSG:3857"))
    assert exact == [one]  # edges that touch a neighbour do not pull it in
    geom = {"type": "LineString", "coordinates": [[-87.6, 17.1], [-87.4, 17.3]]}
    diag = quads_for_geometry(geom)
    assert set(diag) <= set(qs) and len(diag) >= 2
    with pytest.raises(QuadIdError, match="min <= max"):
        list(quads_in_bbox((1, 1, 0, 0)))


def test_downsampled_transforms_cover_the_same_square():
    q = Quad(526, 1123)
    for factor in (1, 2, 4):
        t = q.transform(factor)
        n = q.size(factor)
        assert t @ (n, n) == pytest.approx((q.bounds()[2], q.bounds()[1]))
    with pytest.raises(QuadIdError, match="divide"):
        q.size(3)
