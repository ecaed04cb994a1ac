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
