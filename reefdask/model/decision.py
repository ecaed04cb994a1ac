"""The reef decision of the model contract: class probabilities -> reef / not reef.

Training fits a decision on a held-out fold (:mod:`reefdask.train.reef_decision`) and
writes it in the card (``reef_decision``); the global map reads it back with
:func:`card_decision` and applies it with :func:`apply_decision`. Two kinds, plain
JSON (no pickle): ``threshold`` on the summed probability of the schema's reef group,
and ``logistic`` (coefficients and intercept on the class probabilities).

Examples
--------
>>> import numpy as np
>>> p = np.array([[0.9, 0.1], [0.2, 0.8]])
>>> apply_decision({"kind": "threshold", "threshold": 0.5}, p).tolist()
[False, True]
>>> card_decision(None) is None
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["apply_decision", "card_decision", "reef_probability", "reef_truth"]


def reef_truth(schema: Any, class_index: np.ndarray) -> np.ndarray:
    """Reef (1), not reef (0), or -1 (no reef-level group) for softmax channel indices."""
    codes = np.asarray(schema.codes)
    lut = schema.lut("reef", nodata=255)
    reef_code = schema.code_of("reef", "reef")
    level = lut[codes[np.clip(class_index, 0, len(codes) - 1)]]
    return np.where(level == 255, -1, (level == reef_code).astype(int))


def reef_probability(schema: Any, probs: np.ndarray) -> np.ndarray:
    """Summed probability of the detailed classes in the reef group: ``(..., C) -> (...)``."""
    m = schema.group_matrix("reef")
    row = list(schema.level_codes("reef")).index(schema.code_of("reef", "reef"))
    return np.asarray(probs, "float32") @ m[row]


def apply_decision(decision: dict[str, Any], probs: np.ndarray, schema: Any = None) -> np.ndarray:
    """Reef (True) per pixel of ``probs (..., C)``; ``threshold`` with two columns reads column 1."""
    probs = np.asarray(probs, "float32")
    if decision["kind"] == "threshold":
        reef_p = reef_probability(schema, probs) if schema is not None else probs[..., 1]
        return reef_p > decision["threshold"]
    z = probs @ np.asarray(decision["coef"], "float32") + decision["intercept"]
    return z > 0


def card_decision(card: Any) -> dict[str, Any] | None:
    """The reef decision a model card carries (training writes ``reef_decision``), if any."""
    extra = (card.model_extra or {}) if card is not None else {}
    decision = extra.get("reef_decision")
    if isinstance(decision, dict) and decision.get("kind") in ("threshold", "logistic"):
        return dict(decision)
    if extra.get("reef_threshold") is not None:
        return {"kind": "threshold", "threshold": float(extra["reef_threshold"])}
    return None
