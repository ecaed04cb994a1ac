"""Evaluate a model on one split of the sample store: confusion matrix, per-class scores, pixels.

Only pixels with a positive weight count (the loss windows, labelled, with imagery):
the pixels the model was trained to get right. A bounded random subset of those pixels'
probabilities is kept for fitting the reef decision, so memory does not grow with the
split.

Examples
--------
>>> import numpy as np
>>> m = np.array([[8, 2], [1, 9]])
>>> s = class_scores(m)
>>> [round(v, 3) for v in s["f1"]], round(s["overall_accuracy"], 3)
([0.842, 0.857], 0.85)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reefdask.calval.metrics import class_metrics, macro_mean
from reefdask.model.scaler import Scaler
from reefdask.train.store import SampleStore

__all__ = ["Evaluation", "evaluate_split", "class_scores"]


@dataclass
class Evaluation:
    """Confusion matrix (rows truth, columns prediction) and sampled pixels of one split."""

    split: str
    confusion: np.ndarray
    probs: np.ndarray
    truth: np.ndarray

    def scores(self) -> dict[str, Any]:
        """Per-class precision, recall, F1, IoU and the overall and macro figures."""
        return class_scores(self.confusion)


def class_scores(m: np.ndarray) -> dict[str, Any]:
    """Per-class and summary scores of a confusion matrix, by :mod:`reefdask.calval.metrics`.

    The one metrics module's rule: a score with a zero denominator is ``NaN``
    (undefined); macro means leave undefined classes out (``NaN`` when none is left).
    """
    c = class_metrics(m)
    return {
        "precision": c["precision"].tolist(),
        "recall": c["recall"].tolist(),
        "f1": c["f1"].tolist(),
        "iou": c["iou"].tolist(),
        "support": c["support"].astype(int).tolist(),
        "overall_accuracy": c["overall_accuracy"],
        "macro_f1": macro_mean(c["f1"]),
        "macro_iou": macro_mean(c["iou"]),
    }


def evaluate_split(
    model: Any,
    store: SampleStore,
    split: str,
    scaler: Scaler,
    *,
    max_pixels: int = 200_000,
    seed: int = 0,
    batch_size: int = 8,
) -> Evaluation:
    """Run ``model`` over every sample of ``split`` (streamed chunk by chunk)."""
    from reefdask.train.dataset import load_piece, pieces

    n_classes = int(model.output_shape[-1])
    conf = np.zeros((n_classes, n_classes), "int64")
    rng = np.random.default_rng(seed)
    pcs = pieces(store, split)
    n_total = sum(b - a for a, b in store.ranges(split)) * store.window**2
    keep_p = min(1.0, 4 * max_pixels / max(n_total, 1))
    probs, truth = [], []
    for a, b in pcs:
        x, y = load_piece(store, scaler, int(a), int(b))
        p = model.predict(x, batch_size=batch_size, verbose=0)
        t, w = y[..., 0].astype("int64"), y[..., 1]
        ok = (w > 0) & (t < n_classes)
        pred = p.argmax(-1)
        conf += np.bincount(t[ok] * n_classes + pred[ok], minlength=n_classes**2).reshape(
            n_classes, n_classes
        )
        pick = ok & (rng.random(ok.shape) < keep_p)
        probs.append(p[pick].astype("float32"))
        truth.append(t[pick].astype("int16"))
    pr = np.concatenate(probs) if probs else np.zeros((0, n_classes), "float32")
    tr = np.concatenate(truth) if truth else np.zeros(0, "int16")
    if len(tr) > max_pixels:
        idx = rng.choice(len(tr), max_pixels, replace=False)
        pr, tr = pr[idx], tr[idx]
    return Evaluation(split, conf, pr, tr)
