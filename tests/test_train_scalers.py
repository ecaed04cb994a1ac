"""Scalers: out-of-core fits match NumPy, transform/inverse round trips, JSON round trips, nodata."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reefdask.core.nodata import MODEL_NODATA
from reefdask.errors import ConfigError
from reefdask.train.scalers import SCALER_KINDS, Scaler, fit_scaler


def _data(seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    x = np.stack(
        [rng.normal(50, 10, (6, 16, 16)), rng.uniform(0, 200, (6, 16, 16)), rng.gamma(2, 20, (6, 16, 16))],
        axis=-1,
    )
    return np.clip(x, 1, 255).astype(dtype)


@pytest.mark.parametrize("kind", SCALER_KINDS)
def test_round_trip_and_json(kind):
    x = _data()
    s = fit_scaler(kind, da.from_array(x, chunks=(2, 8, 16, 3)))
    back = Scaler.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s
    z = back.transform(x)
    assert z.dtype == np.float32
    tol = 0.5 if kind == "quantile" else 1e-3  # the quantile map is piecewise linear between 101 knots
    assert np.allclose(back.inverse_transform(z), x, atol=tol)


def test_fits_match_numpy_and_ignore_nodata():
    x = _data(1, "uint8")
    x[0, :4] = 0  # nodata pixels (every band 0) must not count
    arr = da.from_array(x, chunks=(1, 16, 16, 3))
    valid = x[~(x == 0).all(-1)].astype("float64")
    std = fit_scaler("standard", arr, nodata=0).params
    assert np.allclose(std["center"], valid.mean(0)) and np.allclose(std["scale"], valid.std(0))
    mm = fit_scaler("minmax", arr, nodata=0).params
    assert np.allclose(mm["center"], valid.min(0)) and np.allclose(mm["scale"], np.ptp(valid, 0))
    rb = fit_scaler("robust", arr, nodata=0).params
    q = np.quantile(valid, [0.1, 0.5, 0.9], axis=0, method="inverted_cdf")
    assert np.allclose(rb["center"], q[1]) and np.allclose(rb["scale"], q[2] - q[0])
    z = Scaler.from_dict(rb | {"kind": "robust"}).transform(x, valid=~(x == 0).all(-1))
    assert (z[0, :4] == MODEL_NODATA).all() and (z[0, 4:] != MODEL_NODATA).all()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), scale=st.floats(0.01, 1000))
def test_float_robust_quantiles_close_to_numpy(seed, scale):
    x = np.random.default_rng(seed).normal(0, scale, (4, 8, 8, 2)).astype("float32")
    rb = fit_scaler("robust", da.from_array(x, chunks=(1, 8, 8, 2))).params
    flat = x.reshape(-1, 2)
    n, binw = len(flat), np.ptp(flat, 0) / 4096
    lo = np.quantile(flat, 0.5 - 1 / n, axis=0, method="lower") - binw  # the histogram median lies between
    hi = np.quantile(flat, 0.5 + 1 / n, axis=0, method="higher") + binw  # the order statistics around it
    assert (lo <= rb["center"]).all() and (rb["center"] <= hi).all()


def test_unknown_kind_and_empty_fit():
    with pytest.raises(ConfigError, match="unknown"):
        fit_scaler("zscore", np.zeros((1, 2, 2, 1)))
    with pytest.raises(ConfigError, match="no valid"):
        fit_scaler("standard", da.zeros((1, 2, 2, 1), chunks=1), nodata=0)
