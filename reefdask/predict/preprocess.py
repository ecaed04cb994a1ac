"""Preprocessing identical to training: band selection, scaling, nodata encoding.

The implementation is the model contract's, :mod:`reefdask.model.preprocess` (and the
hashes, :mod:`reefdask.model.fingerprint`); these names stay importable from here.

Examples
--------
>>> import numpy as np
>>> pre = Preprocessing(bands=(1, 2), scaler={"kind": "affine", "center": [10, 0], "scale": [2, 1]})
>>> raw = np.array([[[10, 0]], [[4, 0]]], dtype="uint8")      # (band, y, x), nodata 0
>>> x, valid = pre.apply(raw, nodata=0)
>>> x[0].tolist(), valid.tolist()                             # (y, x, band) float32
([[0.0, 4.0], [-10.0, -10.0]], [[True, False]])
"""

from __future__ import annotations

from reefdask.model.fingerprint import canonical_json, short_hash
from reefdask.model.preprocess import Preprocessing

__all__ = ["Preprocessing", "canonical_json", "short_hash"]
