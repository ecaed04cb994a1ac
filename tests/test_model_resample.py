"""The one downsampling rule (reefdask.model.resample): half up, nodata collisions nudged, chunk-invariant."""

from __future__ import annotations

import dask.array as da
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reefdask.model.resample import downsample


def test_half_way_means_round_up_everywhere():
    """Regression: clean rounded 2.5 -> 3, the global map 2.5 -> 2 (NumPy's half-to-even rint)."""
    block = np.array([[[2, 3], [3, 2]], [[0, 1], [0, 0]]], "uint8")  # band means 2.5 and 0.25
    assert downsample(block, 2, nodata=0)[:, 0, 0].tolist() == [3, 0]
    assert downsample(block.astype("int16") + 10, 2, nodata=None)[:, 0, 0].tolist() == [13, 10]
    floats = np.array([[[2.0, 3.0], [3.0, 2.0]]], "float32")
    assert downsample(floats, 2, nodata=float("nan")).tolist() == [[[2.5]]]


def test_a_valid_block_never_becomes_nodata():
    block = np.zeros((3, 2, 2), "uint8")
    block[0, 0, 0] = block[1, 0, 1] = block[2, 1, 0] = 1  # three valid pixels, mean 1/3 -> 0 = nodata
    assert downsample(block, 2, nodata=0)[:, 0, 0].tolist() == [1, 0, 0]
    top = np.full((1, 2, 2), 255, "uint8")
    top[0, 0, 0] = 254  # mean 254.75 -> 255 = nodata: nudged down, never wrapped to 0
    assert downsample(top, 2, nodata=255).tolist() == [[[254]]]


@settings(max_examples=60, deadline=None)
@given(
    a=arrays("uint8", (2, 8, 8), elements=st.integers(0, 6)),
    nodata=st.sampled_from([0, 6, None]),
    factor=st.sampled_from([2, 4]),
)
def test_downsample_properties(a, nodata, factor):
    out = downsample(a, factor, nodata=nodata)
    assert out.dtype == a.dtype and out.shape == (2, 8 // factor, 8 // factor)
    for i, j in np.ndindex(8 // factor, 8 // factor):
        blk = a[:, i * factor : (i + 1) * factor, j * factor : (j + 1) * factor].reshape(2, -1)
        valid = np.ones(blk.shape[1], bool) if nodata is None else ~(blk == nodata).all(axis=0)
        got = out[:, i, j]
        if not valid.any():
            assert (got == nodata).all()
            continue
        want = np.floor(blk[:, valid].mean(axis=1) + 0.5).astype(int)  # half up
        if nodata is not None and (want == nodata).all():
            assert (got != nodata).any()  # nudged: stays valid
            want[0] += 1 if nodata < 255 else -1
        assert got.tolist() == want.tolist()
    # chunked (dask, blocks that the factor divides) equals whole
    lazy = da.from_array(a, chunks=(2, 4, 4)).map_blocks(downsample, factor, "average", nodata, dtype=a.dtype,
                                                          chunks=(2, 4 // factor, 4 // factor))  # fmt: skip
    np.testing.assert_array_equal(lazy.compute(), out)
