"""Model inputs: the NumPy encoder and its TensorFlow twin (the training pipeline's) agree, NaN included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reefdask.model.preprocess import Preprocessing, encode_features, encode_features_tf

pytestmark = pytest.mark.tf
SCALER = {"kind": "standard", "center": [3.0, -1.0], "scale": [2.0, 0.5]}


def test_nan_nodata_never_reaches_the_network():
    """Regression: ``tf.not_equal(x, nan)`` is always true, so NaN pixels went to the model in training."""
    x = np.array([[[np.nan, np.nan], [1.0, np.nan], [5.0, 2.0]]], "float32")  # (1, 3, band)
    want, valid = encode_features(x, float("nan"), SCALER)
    assert valid.tolist() == [[False, True, True]]
    assert want.tolist() == [[[-10.0, -10.0], [-1.0, -10.0], [1.0, 6.0]]]
    np.testing.assert_array_equal(np.asarray(encode_features_tf(x, float("nan"), SCALER)), want)


@settings(max_examples=25, deadline=None)
@given(
    x=arrays("uint8", (4, 5, 2), elements=st.integers(0, 3)),
    nodata=st.sampled_from([0, 3, None]),
    scaler=st.sampled_from([SCALER, {"kind": "none"}]),
)
def test_numpy_and_tensorflow_encoders_agree_bit_for_bit(x, nodata, scaler):
    want, _ = encode_features(x, nodata, scaler)
    np.testing.assert_array_equal(np.asarray(encode_features_tf(x, nodata, scaler)), want)


def test_preprocessing_applies_the_same_encoder():
    raw = np.array([[[0, 4]], [[0, 1]]], "uint8")  # (band, y, x), nodata 0
    pre = Preprocessing(bands=(1, 2), scaler=SCALER)
    x, valid = pre.apply(raw, 0)
    want, wvalid = encode_features(np.moveaxis(raw, 0, -1), 0, SCALER)
    np.testing.assert_array_equal(x, want)
    np.testing.assert_array_equal(valid, wvalid)
    with pytest.raises(Exception, match="linear"):
        encode_features_tf(np.zeros((1, 2)), None, {"kind": "quantile", "probs": [0, 1], "values": [[0, 1]]})
