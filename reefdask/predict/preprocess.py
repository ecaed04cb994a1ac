"""Preprocessing identical to training: band selection, scaling, nodata encoding.

The implementation is the model contract's, :mod:`reefdask.model.preprocess` (and the
hashes, :mod:`reefdask.model.fingerprint`); these names stay importable from here.
"""

from __future__ import annotations

from reefdask.model.fingerprint import canonical_json, short_hash
from reefdask.model.preprocess import Preprocessing

__all__ = ["Preprocessing", "canonical_json", "short_hash"]
