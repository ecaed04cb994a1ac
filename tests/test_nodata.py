import dask.array as da
import numpy as np
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reefdask.core.nodata import apply_alpha, get_nodata, valid_mask, valid_mask_array


@settings(max_examples=50, deadline=None)
@given(
    arrays("uint8", (3, 5, 7), elements=st.integers(0, 3)),
    arrays("uint8", (5, 7), elements=st.sampled_from([0, 255])),
)
def test_alpha_policy_is_lossless_for_the_mask(rgb, alpha):
    out = apply_alpha(rgb, alpha, nodata=0)
    valid = valid_mask_array(out, 0)
    np.testing.assert_array_equal(valid, alpha != 0)  # the mask is exactly alpha
    # valid pixels keep their values except the nudged all-black ones
    keep = (alpha != 0) & ~(rgb == 0).all(axis=0)
    np.testing.assert_array_equal(out[:, keep], rgb[:, keep])
    assert out.dtype == rgb.dtype


def test_dask_and_numpy_agree():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 2, (3, 20, 20), dtype="uint8")
    alpha = rng.choice(np.array([0, 255], dtype="uint8"), (20, 20))
    lazy = apply_alpha(da.from_array(rgb, chunks=(3, 7, 7)), da.from_array(alpha, chunks=7), 0)
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(), apply_alpha(rgb, alpha, 0))


def test_float_imagery_uses_nan():
    img = np.ones((2, 3, 3), "float32")
    alpha = np.array([[0, 1, 1]] * 3, "uint8")
    out = apply_alpha(img, alpha, np.nan)
    assert np.isnan(out[:, :, 0]).all() and not np.isnan(out[:, :, 1:]).any()
    np.testing.assert_array_equal(valid_mask_array(out, np.nan), alpha != 0)


def test_dataarray_mask_reads_attrs():
    arr = xr.DataArray(np.array([[[0, 1]], [[0, 0]]], "uint8"), dims=("band", "y", "x"), attrs={"nodata": 0})
    assert get_nodata(arr) == 0
    assert valid_mask(arr).values.tolist() == [[False, True]]
    arr.attrs.clear()
    assert get_nodata(arr) is None
    assert valid_mask(arr).values.all()


def _tif(path, count, dtype="uint8", interp=None, **kw):
    import rasterio

    prof = dict(driver="GTiff", width=8, height=8, count=count, dtype=dtype, crs="EPSG:3857")
    with rasterio.open(path, "w", transform=rasterio.Affine(10, 0, 0, 0, -10, 0), **prof, **kw) as ds:
        ds.write(np.ones((count, 8, 8), dtype))
        if interp is not None:
            ds.colorinterp = interp
    return str(path)


def test_one_alpha_rule_for_every_reader(tmp_path):
    """Regression: clean and training windows took the 4th band of ANY 4-band uint8 file as alpha,
    open_imagery only of RGB files without a nodata value. One rule (core.nodata.mask_source) now."""
    import rasterio
    from rasterio.enums import ColorInterp as C

    from reefdask.clean.imagery import alpha_band
    from reefdask.core.nodata import mask_source
    from reefdask.io import open_imagery
    from reefdask.train.windows import scene_info

    labels = _tif(tmp_path / "lab.tif", 1, "int16")
    cases = {  # file -> (kind, alpha band) of the rule
        _tif(tmp_path / "rgba.tif", 4): ("alpha", 4),  # GDAL tags a 4-band Byte RGB file's band 4 ALPHA
        _tif(tmp_path / "argb.tif", 4, interp=[C.alpha, C.red, C.green, C.blue]): ("alpha", 1),
        _tif(tmp_path / "rgbx.tif", 4, photometric="RGB", alpha="NO"): ("alpha", 4),  # untagged, no nodata
        _tif(tmp_path / "rgbn.tif", 4, photometric="RGB", alpha="NO", nodata=0): ("none", 0),  # RGB + NIR
        _tif(tmp_path / "u16.tif", 4, "uint16"): ("none", 0),
        _tif(tmp_path / "rgb.tif", 3): ("none", 0),
    }
    for path, (kind, band) in cases.items():
        with rasterio.open(path) as ds:
            assert mask_source(ds) == (kind, band), path
            assert alpha_band(ds) == (band if kind == "alpha" else None), path
        data_bands = 3 if kind == "alpha" else (3 if path.endswith("rgb.tif") else 4)
        assert open_imagery(path).sizes["band"] == data_bands, path
        info = scene_info("s", path, labels)
        assert (info.alpha, len(info.bands)) == ((band if kind == "alpha" else None), data_bands), path
    with rasterio.open(next(iter(cases))) as ds:
        assert mask_source(ds, "none") == ("none", 0) and mask_source(ds, 2) == ("alpha", 2)


def test_internal_masks_and_nodata_of_what_is_read(tmp_path):
    import rasterio

    from reefdask.core.nodata import imagery_nodata, mask_source, read_masked
    from reefdask.train.windows import read_features, scene_info

    path = _tif(tmp_path / "msk.tif", 3)
    with rasterio.open(path, "r+") as ds:
        m = np.full((8, 8), 255, "uint8")
        m[:2] = 0
        ds.write_mask(m)
    with rasterio.open(path) as ds:
        kind, idx = mask_source(ds)
        assert kind == "internal"
        got = read_masked(ds, [1, 2, 3], None, kind, idx, 0)
    assert (got[:, :2] == 0).all() and (got[:, 2:] == 1).all()
    _, valid = read_features(scene_info("s", path, _tif(tmp_path / "l.tif", 1, "int16")), 0, 0, 8)
    assert valid[:2].sum() == 0 and valid[2:].all()  # training windows honour the mask too
    assert imagery_nodata(None, "float32", False) != imagery_nodata(None, "float32", False)  # NaN
    assert imagery_nodata(None, "uint8", True) == 0 and imagery_nodata(None, "uint8", False) is None


def test_a_valid_pixel_never_wraps_to_another_value_at_the_top_of_its_type():
    from reefdask.core.nodata import nudge

    rgb = np.full((3, 1, 2), 255, "uint8")
    out = apply_alpha(rgb, np.array([[255, 0]], "uint8"), nodata=255)
    assert out[:, 0, 0].tolist() == [254, 255, 255] and out[:, 0, 1].tolist() == [255, 255, 255]
    assert nudge(np.array([0], "int16"), np.array([True]), 0).tolist() == [1]
