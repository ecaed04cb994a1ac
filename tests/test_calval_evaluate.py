"""Evaluation on tiny real GeoTIFF/Zarr/GeoJSON files: per-site numbers against an independent
computation (scikit-learn counts, pyproj geodesic pixel areas), every input kind, explicit alignment."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Geod, Transformer
from sklearn.metrics import confusion_matrix as sk_confusion

from reefdask.calval.evaluate import evaluate
from reefdask.calval.maps import MapSpec
from reefdask.core.classes import default_schema
from reefdask.errors import ConfigError, GridMismatchError, InputNotFoundError
from reefdask.testing.calval import make_calval_scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return make_calval_scene(tmp_path_factory.mktemp("calval"), seed=7)


def _geodesic_row_areas(transform, h):
    """km² of one pixel per row, from pyproj's geodesic polygon area (independent of reefdask)."""
    geod = Geod(ellps="WGS84")
    to_ll = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    out = []
    for r in range(h):
        x0, x1 = transform.c, transform.c + transform.a
        y0, y1 = transform.f + transform.e * r, transform.f + transform.e * (r + 1)
        lon, lat = to_ll.transform([x0, x1, x1, x0], [y0, y0, y1, y1])
        out.append(abs(geod.polygon_area_perimeter(lon, lat)[0]) / 1e6)
    return np.array(out)


def _site_masks(h, w):
    north = np.zeros((h, w), bool)
    north[: h // 2] = True
    south = np.zeros((h, w), bool)
    south[h // 2 :, w // 8 : w * 3 // 4] = True
    return {"north-reef": north, "south-reef": south}


def test_reef_level_sites_match_an_independent_computation(scene):
    ev = evaluate(scene["prediction"], scene["reference"], sites=scene["sites"], level="reef")
    schema = default_schema()
    ref = schema.remap(scene["ref"], "reef", src_nodata=-9999)
    pred = schema.remap(scene["pred"], "reef", src_nodata=255)
    h, w = ref.shape
    areas = _geodesic_row_areas(scene["transform"], h)
    assert ev.positive == 1 and ev.labels == (0, 1)
    summaries = {}
    for site in ev.sites:
        m = _site_masks(h, w)[site.name] & (ref != 255) & (pred != 255)
        np.testing.assert_array_equal(site.confusion.counts, sk_confusion(ref[m], pred[m], labels=[0, 1]))
        area = np.zeros((2, 2))
        for r in range(h):
            if m[r].any():
                area += areas[r] * sk_confusion(ref[r][m[r]], pred[r][m[r]], labels=[0, 1])
        np.testing.assert_allclose(site.confusion.area, area, rtol=1e-3)
        b = site.binary
        assert b["tp_km2"] == pytest.approx(area[1, 1], rel=1e-3)
        assert b["fp_km2"] == pytest.approx(area[0, 1], rel=1e-3)
        assert b["fn_km2"] == pytest.approx(area[1, 0], rel=1e-3)
        assert b["tn_km2"] == pytest.approx(area[0, 0], rel=1e-3)
        assert b["f1"] == pytest.approx(2 * area[1, 1] / (2 * area[1, 1] + area[0, 1] + area[1, 0]), rel=1e-3)
        summaries[site.name] = (b["f1"], area[1, 1] + area[1, 0])
    (f_n, a_n), (f_s, a_s) = summaries["north-reef"], summaries["south-reef"]
    assert ev.means["weighted_f1"] == pytest.approx((f_n * a_n + f_s * a_s) / (a_n + a_s), rel=1e-6)
    assert ev.means["mean_f1"] == pytest.approx((f_n + f_s) / 2)
    pooled = ev.sites[0].confusion.counts + ev.sites[1].confusion.counts
    np.testing.assert_array_equal(ev.pooled.confusion.counts, pooled)
    d = ev.to_dict()
    assert d["sites"][0]["binary"]["tp_km2"] == pytest.approx(ev.sites[0].binary["tp_km2"])
    assert d["means"]["weighted_f1"] == pytest.approx(ev.means["weighted_f1"])


def test_zarr_classes_probabilities_vector_and_raster_inputs_agree(scene):
    base = evaluate(scene["prediction"], scene["reference"], sites=scene["sites"], level="coarse")
    for pred in (MapSpec(scene["zarr"]), MapSpec(scene["zarr"], variable="probabilities")):
        ev = evaluate(pred, scene["reference"], sites=scene["sites"], level="coarse")
        for a, b in zip(ev.sites, base.sites, strict=True):
            np.testing.assert_array_equal(a.confusion.counts, b.confusion.counts)
    vec = evaluate(
        scene["prediction"],
        MapSpec(scene["reference_vector"], field="class"),
        sites=scene["sites"],
        level="coarse",
    )
    for a, b in zip(vec.sites, base.sites, strict=True):
        np.testing.assert_array_equal(a.confusion.counts, b.confusion.counts)
    assert any("rasterized" in n for n in vec.notes)
    # a polygon layer as the prediction (a baseline map) is rasterized onto the reference grid
    baseline = evaluate(MapSpec(scene["reference_vector"], field="class"), scene["reference"], level="reef")
    assert baseline.pooled.binary["f1"] == pytest.approx(1.0)
    assert baseline.pooled.binary["fp_km2"] == 0 and baseline.pooled.binary["fn_km2"] == 0


def test_detailed_level_whole_grid_matches_sklearn(scene):
    ev = evaluate(scene["prediction"], scene["reference"], level="detailed")
    ref, pred = scene["ref"].astype(int).ravel(), scene["pred"].astype(int).ravel()
    codes = list(default_schema().codes)
    ok = np.isin(ref, codes) & np.isin(pred, codes)
    np.testing.assert_array_equal(ev.pooled.confusion.counts, sk_confusion(ref[ok], pred[ok], labels=codes))
    assert ev.positive is None and ev.means == {} and ev.sites[0].name == "all"
    assert ev.pooled.confusion.excluded == (~ok).sum()


def test_cloud_is_nodata_at_reef_level(scene):
    ev = evaluate(scene["prediction"], scene["reference"], level="reef")
    cloud = (scene["ref"] == 14) | (scene["pred"] == 14) | (scene["ref"] == -9999) | (scene["pred"] == 255)
    assert ev.pooled.confusion.excluded == cloud.sum()


def _write_coarser_reference(scene, path):
    ref = scene["ref"][::2, ::2]
    t = scene["transform"] @ Affine.scale(2)
    with rasterio.open(
        path, "w", driver="GTiff", height=ref.shape[0], width=ref.shape[1], count=1, dtype="int16",
        nodata=-9999, crs="EPSG:3857", transform=t,
    ) as f:  # fmt: skip
        f.write(ref, 1)
    return ref


def test_grid_mismatch_raises_unless_aligned_explicitly(scene, tmp_path):
    coarse = _write_coarser_reference(scene, tmp_path / "ref20m.tif")
    with pytest.raises(GridMismatchError, match="align"):
        evaluate(scene["prediction"], str(tmp_path / "ref20m.tif"), level="coarse")
    ev = evaluate(scene["prediction"], str(tmp_path / "ref20m.tif"), level="coarse", align=True)
    assert any("nearest-neighbour" in n for n in ev.notes)
    # nearest neighbour from 20 m onto 10 m repeats each reference pixel 2 x 2
    schema = default_schema()
    up = np.repeat(np.repeat(coarse, 2, axis=0), 2, axis=1)
    ref = schema.remap(up, "coarse", src_nodata=-9999)
    pred = schema.remap(scene["pred"], "coarse", src_nodata=255)
    ok = (ref != 255) & (pred != 255)
    np.testing.assert_array_equal(
        ev.pooled.confusion.counts, sk_confusion(ref[ok], pred[ok], labels=[1, 2, 3, 4, 5])
    )


def test_input_errors_are_clear(scene, tmp_path):
    with pytest.raises(InputNotFoundError, match="does not exist"):
        evaluate(str(tmp_path / "nope.tif"), scene["reference"])
    with pytest.raises(ConfigError, match="field"):
        evaluate(scene["prediction"], scene["reference_vector"])
    with pytest.raises(ConfigError, match="vector layer and so is the other"):
        evaluate(
            MapSpec(scene["reference_vector"], field="class"),
            MapSpec(scene["reference_vector"], field="class"),
        )
    with pytest.raises(ConfigError, match="bands"):
        evaluate(scene["imagery"], scene["reference"])


def test_lazy_chunkwise_warp_equals_gdal_reprojection_in_memory(scene, tmp_path):
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    from reefdask.calval.align import _reproject_in_memory
    from reefdask.calval.maps import Grid, open_class_map

    with rasterio.open(scene["reference"]) as src:
        t, w, h = calculate_default_transform(src.crs, "EPSG:32616", src.width, src.height, *src.bounds)
        dst = np.full((h, w), -9999, dtype="int16")
        reproject(
            src.read(1), dst, src_transform=src.transform, src_crs=src.crs, dst_transform=t,
            dst_crs="EPSG:32616", resampling=Resampling.nearest, src_nodata=-9999, dst_nodata=-9999,
        )  # fmt: skip
        prof = {**src.profile, "crs": "EPSG:32616", "transform": t, "width": w, "height": h}
    utm = tmp_path / "ref_utm.tif"
    with rasterio.open(utm, "w", **prof) as f:
        f.write(dst, 1)
    with pytest.raises(GridMismatchError, match="EPSG:32616"):
        evaluate(scene["prediction"], str(utm))
    ev = evaluate(scene["prediction"], str(utm), level="coarse", align=True, chunks=32)  # 3 x 4 warped chunks
    assert any("chunk by chunk" in n for n in ev.notes)
    schema = default_schema()
    pred = open_class_map(MapSpec(scene["prediction"]), schema, "coarse")
    ref = open_class_map(MapSpec(str(utm)), schema, "coarse")
    in_memory = _reproject_in_memory(ref, Grid.of(pred)).values
    p = pred.values
    ok = (in_memory != 255) & (p != 255)
    np.testing.assert_array_equal(
        ev.pooled.confusion.counts, sk_confusion(in_memory[ok], p[ok], labels=[1, 2, 3, 4, 5])
    )
    assert ev.pooled.binary["f1"] > 0.8  # the round trip through UTM keeps the reef where it was


def test_float_probabilities_with_nan_nodata(scene, tmp_path):
    import xarray as xr

    ds = xr.open_zarr(scene["zarr"], consolidated=False, decode_coords="all").load()
    prob = ds["probabilities"].astype("float32") / 100
    prob = prob.where(ds["probabilities"] != 255)
    out = xr.Dataset({"probabilities": prob}).rio.write_crs("EPSG:3857")
    out.to_zarr(tmp_path / "float.zarr", mode="w", zarr_format=3, consolidated=False)
    a = evaluate(MapSpec(str(tmp_path / "float.zarr")), scene["reference"], level="coarse")
    b = evaluate(scene["prediction"], scene["reference"], level="coarse")
    np.testing.assert_array_equal(a.pooled.confusion.counts, b.pooled.confusion.counts)
    assert a.pooled.confusion.excluded == b.pooled.confusion.excluded
