"""The reef decision: class probabilities -> reef / not reef, fitted on a held-out fold.

The reference practice trained a random forest on validation-fold probabilities and
reported its accuracy on the same fold (a leak). Here the decision is *fitted* on one
fold (the validation fold) and *evaluated* on another (the test fold, when the samples
have one); the card records both, and says so when no separate fold was available.

Two kinds, both plain JSON (no pickle):

* ``threshold``: reef when the summed probability of the schema's reef group exceeds a
  threshold chosen by maximising F1 on the fitting fold;
* ``logistic``: a scikit-learn logistic regression on the class probabilities (balanced
  class weights), stored as coefficients and intercept.

Pixels whose class has no reef-level group (cloud) are left out of fitting and scoring.
Applying a decision (:func:`apply_decision`, :func:`reef_probability`, :func:`reef_truth`)
is the model contract's, :mod:`reefdask.model.decision`, re-exported here.

Examples
--------
>>> import numpy as np
>>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
>>> d = fit_threshold(p[:, 1], np.array([0, 1, 0, 1]))
>>> d["kind"], apply_decision(d, p).tolist()
('threshold', [False, True, False, True])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reefdask.calval.metrics import binary_f1
from reefdask.errors import ConfigError
from reefdask.model.decision import apply_decision, reef_probability, reef_truth

__all__ = [
    "reef_truth",
    "reef_probability",
    "fit_threshold",
    "fit_logistic",
    "fit_decision",
    "apply_decision",
    "f1_score",
]


def f1_score(pred: np.ndarray, truth: np.ndarray) -> float:
    """F1 of the positive class (:func:`reefdask.calval.metrics.binary_f1`: NaN when undefined)."""
    return binary_f1(pred, truth)


def fit_threshold(reef_p: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """The threshold on reef probability that maximises F1 on these pixels."""
    grid = np.unique(
        np.concatenate([np.linspace(0.01, 0.99, 99), np.quantile(reef_p, np.linspace(0, 1, 101))])
    )
    scores = [f1_score(reef_p > t, truth) for t in grid]
    best = int(np.argmax(np.nan_to_num(scores, nan=-1.0)))  # undefined F1 never wins
    return {"kind": "threshold", "threshold": float(grid[best]), "fit_f1": float(scores[best])}


def fit_logistic(probs: np.ndarray, truth: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """A balanced logistic regression on class probabilities, as JSON coefficients."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(truth)) < 2:
        raise ConfigError(
            "The reef decision needs reef and non-reef pixels in the fitting fold; add samples."
        )
    clf = LogisticRegression(class_weight="balanced", max_iter=500, random_state=seed).fit(probs, truth)
    d = {"kind": "logistic", "coef": clf.coef_[0].tolist(), "intercept": float(clf.intercept_[0])}
    d["fit_f1"] = f1_score(apply_decision(d, probs), truth)
    return d


def fit_decision(kind: str, schema: Any, probs: np.ndarray, class_index: np.ndarray, seed: int = 0) -> dict:
    """Fit a decision of ``kind`` on pixels ``probs (n, C)`` with true channel ``class_index (n,)``."""
    truth = reef_truth(schema, class_index)
    ok = truth >= 0
    probs, truth = probs[ok], truth[ok]
    if kind == "threshold":
        return fit_threshold(reef_probability(schema, probs), truth)
    if kind == "logistic":
        return fit_logistic(probs, truth, seed)
    raise ConfigError(f"reef_decision {kind!r} is unknown; use 'threshold', 'logistic' or 'none'.")


def score_decision(
    decision: dict[str, Any], schema: Any, probs: np.ndarray, class_index: np.ndarray
) -> float:
    """Reef F1 of ``decision`` on pixels with known reef-level truth."""
    truth = reef_truth(schema, class_index)
    ok = truth >= 0
    return f1_score(apply_decision(decision, probs[ok], schema), truth[ok])
