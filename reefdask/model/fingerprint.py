"""The model fingerprint: one hash of the weights and of the preprocessing, the same on every path.

Training writes it into the card, :func:`reefdask.predict` stamps it on every chunk
record and the global map on every quad; all three compute it here, from the saved
file (:func:`weights_digest`, no TensorFlow needed) and the
:class:`~reefdask.model.preprocess.Preprocessing`, so a changed scaler, band list or
class order is a different model.

Examples
--------
>>> canonical_json({"b": 1, "a": [1, 2]})
'{"a":[1,2],"b":1}'
>>> short_hash({"a": 1}) == short_hash({"a": 1}) and len(short_hash({"a": 1}))
16
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

from reefdask.errors import InputNotFoundError

__all__ = ["canonical_json", "model_fingerprint", "short_hash", "weights_digest"]


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces) for hashing."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def short_hash(obj: Any, n: int = 16) -> str:
    """First ``n`` hex digits of the sha256 of ``canonical_json(obj)``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:n]


def weights_digest(model_url: str, storage_options: dict[str, Any] | None = None) -> str:
    """sha256 of a saved model's weights and architecture, without TensorFlow.

    For ``.keras`` archives the members are hashed in name order, leaving out
    ``metadata.json`` (it holds the save date), so saving the same weights twice gives
    the same digest. Other formats hash the file bytes.
    """
    from reefdask.io.storage import read_bytes

    try:
        data = read_bytes(model_url, storage_options)
    except InputNotFoundError as err:
        raise InputNotFoundError(
            f"Model {model_url} does not exist; pass the path or URL of a saved .keras model."
        ) from err
    h = hashlib.sha256()
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for name in sorted(zf.namelist()):
                if name != "metadata.json":
                    h.update(name.encode())
                    h.update(zf.read(name))
    else:
        h.update(data)
    return h.hexdigest()


def model_fingerprint(weights_key: str, preprocessing: Any) -> str:
    """The fingerprint of a model: its weights key (16 hex of :func:`weights_digest`) + preprocessing.

    ``preprocessing`` is a :class:`~reefdask.model.preprocess.Preprocessing` or its
    :meth:`~reefdask.model.preprocess.Preprocessing.to_dict`.

    >>> key = "ab" * 8
    >>> pre = {"bands": [1]}
    >>> model_fingerprint(key, pre) == short_hash({"weights": key, "preprocessing": pre})
    True
    """
    pre = preprocessing.to_dict() if hasattr(preprocessing, "to_dict") else dict(preprocessing)
    return short_hash({"weights": weights_key, "preprocessing": pre})
