"""Imagery cleaning: the one resampling policy, alpha -> nodata, bands, merged locations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.enums import ColorInterp

from reefdask.clean.imagery import alpha_band, clean_imagery, downsample
from reefdask.core.grid import Quad
from reefdask.errors import ConfigError

QUAD = Quad.parse("L15-0525E-1122N")


def write_rgba(path: Path, data: np.ndarray, quad: Quad = QUAD, colorinterp: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _, h, w = data.shape
    profile = dict(driver="GTiff", width=w, height=h, count=data.shape[0], dtype=data.dtype.name)
    with rasterio.open(path, "w", **profile, crs="EPSG:3857", transform=quad.transform(size=w)) as ds:
        ds.write(data)
        if colorinterp:
            ds.colorinterp = [ColorInterp.alpha, ColorInterp.red, ColorInterp.green, ColorInterp.blue]
    return path


def brute_average(a: np.ndarray, f: int, nodata: int) -> np.ndarray:
    b, h, w = a.shape
    out = np.zeros((b, h // f, w // f), dtype=a.dtype)
    for i in range(h // f):
        for j in range(w // f):
            blk = a[:, i * f : (i + 1) * f, j * f : (j + 1) * f].reshape(b, -1)
            valid = ~(blk == nodata).all(axis=0)
            if not valid.any():
                out[:, i, j] = nodata
                continue
            mean = [int(np.floor(blk[k, valid].astype(float).mean() + 0.5)) for k in range(b)]
            if all(m == nodata for m in mean):
                mean[0] += 1
            out[:, i, j] = mean
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    factor=st.sampled_from([2, 4]),
    method=st.sampled_from(["average", "nearest"]),
    blocks=st.integers(1, 3),
)
def test_downsample_exact_and_chunk_invariant(seed: int, factor: int, method: str, blocks: int) -> None:
    rng = np.random.default_rng(seed)
    n = 4 * factor * blocks
    a = rng.integers(0, 4, (3, n, n), dtype="uint8")  # plenty of zeros: nodata where all bands are 0
    whole = downsample(a, factor, method, nodata=0)
    if method == "average":
        assert np.array_equal(whole, brute_average(a, factor, 0))
    else:
        assert np.array_equal(whole, a[:, factor // 2 :: factor, factor // 2 :: factor])
    # tiles whose sides are multiples of the factor give exactly the same pixels
    half = n // 2 - (n // 2) % factor
    tiled = np.concatenate(
        [
            np.concatenate(
                [downsample(a[:, r0:r1, c0:c1], factor, method, 0) for c0, c1 in ((0, half), (half, n))], 2
            )
            for r0, r1 in ((0, half), (half, n))
        ],
        axis=1,
    )
    assert np.array_equal(tiled, whole)


def test_downsample_policy_details() -> None:
    a = np.zeros((2, 2, 2), dtype="uint8")
    assert downsample(a, 2, nodata=0).tolist() == [[[0]], [[0]]]  # all nodata -> nodata
    a[:, 0, 0] = [1, 0]
    a[:, 1, 1] = [0, 0]
    # one valid pixel (1, 0): its mean is kept; a valid result is never nodata in every band
    a2 = np.array([[[1, 0], [0, 0]], [[0, 0], [0, 0]]], dtype="uint8")
    assert downsample(a2, 2, nodata=0)[:, 0, 0].tolist() == [1, 0]
    f = np.array([[[1.0, 2.0], [np.nan, 4.0]]])
    assert downsample(f, 2, nodata=np.nan).tolist() == [[[pytest.approx(7 / 3)]]]
    with pytest.raises(ConfigError, match="resampling"):
        downsample(a, 2, "bilinear")
    with pytest.raises(ConfigError, match="divides"):
        downsample(np.zeros((1, 3, 3), "uint8"), 2)


def test_clean_imagery_alpha_bands_factor(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data = rng.integers(1, 255, (4, 32, 32), dtype="uint8")
    data[3] = 255
    data[3, :8, :] = 0  # alpha 0 = no data in the top 8 rows
    data[:3, 10, 10] = 0  # a black but valid pixel
    src = write_rgba(tmp_path / "in" / "L15-0525E-1122N.tif", data)
    out = tmp_path / "out.tif"
    facts = clean_imagery([src], out, factor=2, tags={"X": "1"})
    with rasterio.open(out) as ds:
        got = ds.read()
        assert (ds.count, ds.dtypes[0], ds.nodata, ds.shape) == (3, "uint8", 0, (16, 16))
        assert ds.transform.almost_equals(QUAD.transform(size=16))
        assert ds.tags()["X"] == "1"
    assert (got[:, :4, :] == 0).all() and facts["valid_fraction"] == pytest.approx(0.75)
    expected = downsample(data[:3].copy(), 1)
    expected[0, 10, 10] = 1  # nudged by the nodata policy, then averaged
    assert np.array_equal(got, brute_average(np.where(data[3] == 0, 0, expected), 2, 0))
    # band selection; full resolution
    clean_imagery([src], tmp_path / "b.tif", bands=[3, 1])
    with rasterio.open(tmp_path / "b.tif") as ds:
        first = data[2].copy()
        first[10, 10] = 1  # black in the kept bands: nudged in the first kept band
        assert ds.count == 2 and np.array_equal(ds.read(1)[8:], first[8:])
        assert np.array_equal(ds.read(2)[8:], data[0, 8:])
    with pytest.raises(ConfigError, match=r"bands \[4\]"):
        clean_imagery([src], tmp_path / "c.tif", bands=[4])


def test_alpha_band_detection(tmp_path: Path) -> None:
    data = np.ones((4, 16, 16), dtype="uint8")
    with rasterio.open(write_rgba(tmp_path / "a.tif", data, colorinterp=True)) as ds:
        assert alpha_band(ds) == 1 and alpha_band(ds, "none") is None and alpha_band(ds, 2) == 2
    with rasterio.open(write_rgba(tmp_path / "b.tif", data)) as ds:
        assert alpha_band(ds) == 4
    with rasterio.open(write_rgba(tmp_path / "c.tif", data[:3])) as ds:
        assert alpha_band(ds) is None
        with pytest.raises(ConfigError, match="outside bands"):
            alpha_band(ds, 5)


def test_two_locations_are_merged(tmp_path: Path) -> None:
    a = np.full((4, 16, 16), 50, dtype="uint8")
    b = np.full((4, 16, 16), 90, dtype="uint8")
    a[3, :, :8] = 0  # first location empty on the left half
    b[3, :4, :] = 0
    pa = write_rgba(tmp_path / "atoll" / "q.tif", a)
    pb = write_rgba(tmp_path / "belize" / "q.tif", b)
    clean_imagery([pa, pb], tmp_path / "m.tif")
    with rasterio.open(tmp_path / "m.tif") as ds:
        got = ds.read(1)
    assert (got[:, 8:] == 50).all()
    assert (got[4:, :8] == 90).all() and (got[:4, :8] == 0).all()


@pytest.mark.parametrize("method", ["average", "nearest"])
def test_application_path_equals_training_path(tmp_path: Path, method: str) -> None:
    """open_imagery + downsample_lazy (application) gives the pixels clean_imagery wrote (training)."""
    from reefdask.clean.imagery import downsample_lazy
    from reefdask.io import open_imagery

    rng = np.random.default_rng(7)
    data = rng.integers(0, 255, (4, 64, 64), dtype="uint8")
    data[3] = np.where(rng.random((64, 64)) < 0.2, 0, 255)
    src = write_rgba(tmp_path / "q.tif", data)
    clean_imagery([src], tmp_path / "train.tif", factor=2, resampling=method)
    lazy = downsample_lazy(open_imagery(src, chunks=(24, 40)), 2, method)
    with rasterio.open(tmp_path / "train.tif") as ds:
        assert np.array_equal(lazy.values, ds.read())
        assert lazy.rio.transform().almost_equals(ds.transform)
        assert np.allclose(lazy.x.values, [ds.xy(0, c)[0] for c in range(ds.width)])
