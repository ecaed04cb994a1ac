"""Ensembles: the mean class probabilities of several models over one tile.

Each member keeps its own preprocessing (bands, scaler) and tile geometry (halo,
stride, tiles or windows); they must predict the same classes in the same channel
order. Their fingerprints are the run's provenance (``run.json`` ``members``, the Zarr
attributes and every STAC item), so a map says which models it averages.

Examples
--------
>>> import numpy as np
>>> a = np.full((2, 2, 3), [0.2, 0.3, 0.5], "float32")
>>> b = np.full((2, 2, 3), [0.6, 0.3, 0.1], "float32")
>>> [round(float(v), 2) for v in mean_probabilities([a, b])[0, 0]]
[0.4, 0.3, 0.3]
>>> [round(float(v), 2) for v in mean_probabilities([a, b], weights=[3, 1])[0, 0]]
[0.3, 0.3, 0.4]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from reefdask.errors import ConfigError

__all__ = ["check_members", "mean_probabilities", "member_probabilities"]


def mean_probabilities(probs: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """The (weighted) mean of ``(y, x, class)`` probability arrays."""
    if not probs:
        raise ConfigError("An ensemble needs at least one model; list one or more under `models`.")
    w = np.ones(len(probs)) if weights is None else np.asarray(weights, dtype="float64")
    if len(w) != len(probs) or (w < 0).any() or w.sum() == 0:
        raise ConfigError(
            f"Ensemble weights {list(w)} must be one non-negative weight per model, not all zero."
        )
    out = np.zeros_like(probs[0], dtype="float32")
    for p, wi in zip(probs, w / w.sum(), strict=True):
        out += np.float32(wi) * p
    return out


def check_members(members: Sequence[Any]) -> None:
    """Refuse an ensemble whose members predict different classes."""
    codes = {tuple(m.preprocessing.get("class_codes") or ()) for m in members}
    if len(codes) > 1:
        raise ConfigError(
            f"The ensemble's models predict different classes {sorted(codes)}; average only models "
            "with the same class codes in the same order."
        )


def member_probabilities(
    member: Any,
    raw: np.ndarray,
    nodata: float | None,
    size: int,
    halo: int,
    storage_options: dict[str, Any] | None = None,
) -> np.ndarray:
    """One member's ``(size, size, class)`` probabilities for the focal quad of a tile.

    ``raw`` is ``(band, size + 2 halo, size + 2 halo)``; the member uses its own halo
    (at most ``halo``) around the focal quad, through the inference engine's strategies.
    """
    from reefdask.model.preprocess import Preprocessing
    from reefdask.model.strategies import run_strategy
    from reefdask.predict.model import load_model

    pre = Preprocessing.from_dict(member.preprocessing)
    labels = list(range(1, raw.shape[0] + 1))
    x, _ = pre.apply(raw[pre.band_indices(labels)], nodata)
    m = member.halo
    x = x[halo - m : halo + size + m, halo - m : halo + size + m]
    model = load_model(member.url, member.key, storage_options)
    return run_strategy(
        model, x, member.strategy, halo=m, h=size, w=size, stride=member.stride, window=member.window,
        step=member.step, fill=pre.nodata_encoding, batch_size=member.batch_size,
    )  # fmt: skip
