"""Accuracy metrics from a confusion matrix (rows reference, columns prediction).

Per class: precision (user's accuracy), recall (producer's accuracy), F1, IoU and
support; overall: accuracy and Cohen's kappa. This is the one metrics module of
reefdask: calval, training's evaluation (:mod:`reefdask.train.evaluate`) and the reef
decision's fitting (:mod:`reefdask.train.reef_decision`) all score here.

The zero-division rule: a ratio with a zero denominator is ``NaN`` (undefined), never
a silent 0 (a class that is neither in the reference nor predicted has no F1; a class
never predicted has no precision). Means across classes (:func:`macro_mean`) or sites
(:func:`site_means`) leave undefined values out; a mean of nothing is ``NaN``. Model
cards store NaN as the JSON constant ``NaN``. :func:`binary_summary` gives the TP/FP/FN/TN
pixels and km² of one positive class (reef), and :func:`site_means` the unweighted and
reference-area-weighted means of F1, precision and recall across sites.

Examples
--------
>>> import numpy as np
>>> m = class_metrics(np.array([[8, 2], [1, 9]]))
>>> m["precision"].round(3).tolist(), m["recall"].round(3).tolist()
([0.889, 0.818], [0.8, 0.9])
>>> round(m["overall_accuracy"], 2), round(m["kappa"], 2)
(0.85, 0.7)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["binary_f1", "binary_summary", "class_metrics", "kappa", "macro_mean", "site_means"]


def _div(num: Any, den: Any) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def macro_mean(values: Any) -> float:
    """Mean of the defined (finite) per-class values; ``NaN`` when none is defined.

    >>> macro_mean([0.5, float("nan"), 1.0]), bool(np.isnan(macro_mean([float("nan")])))
    (0.75, True)
    """
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    return float(v[ok].mean()) if ok.any() else float("nan")


def binary_f1(pred: Any, truth: Any) -> float:
    """F1 of the positive class of boolean ``pred`` against ``truth`` (``NaN`` with no positive at all).

    >>> binary_f1([True, True, False], [True, False, False])
    0.6666666666666666
    """
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    tp = float((p & t).sum())
    return float(_div(2 * tp, 2 * tp + float((p & ~t).sum()) + float((~p & t).sum())))


def kappa(counts: np.ndarray) -> float:
    """Cohen's kappa of a square confusion matrix (NaN when expected agreement is 1)."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if total == 0:
        return float("nan")
    po = np.trace(c) / total
    pe = float((c.sum(axis=0) * c.sum(axis=1)).sum()) / total**2
    return float("nan") if pe == 1 else float((po - pe) / (1 - pe))


def class_metrics(counts: np.ndarray) -> dict[str, Any]:
    """Per-class and overall metrics of ``counts`` (pixels or km²); arrays follow the labels."""
    c = np.asarray(counts, dtype=np.float64)
    tp = np.diag(c)
    pred_total = c.sum(axis=0)
    ref_total = c.sum(axis=1)
    fp = pred_total - tp
    fn = ref_total - tp
    precision = _div(tp, pred_total)
    recall = _div(tp, ref_total)
    f1 = _div(2 * tp, 2 * tp + fp + fn)
    iou = _div(tp, tp + fp + fn)
    total = c.sum()
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "support": ref_total,
        "predicted": pred_total,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "iou": iou,
        "overall_accuracy": float(np.trace(c) / total) if total else float("nan"),
        "kappa": kappa(c),
        "total": float(total),
    }


def binary_summary(counts: np.ndarray, positive: int, area: np.ndarray | None = None) -> dict[str, float]:
    """TP/FP/FN/TN of class index ``positive`` against all others, in pixels and km².

    Precision, recall and F1 come from the areas when given (ground truth on the
    ground), else from pixel counts.
    """
    out: dict[str, float] = {}
    for unit, mat in (("px", counts), ("km2", area)):
        if mat is None:
            continue
        c = np.asarray(mat, dtype=np.float64)
        tp = c[positive, positive]
        fp = c[:, positive].sum() - tp
        fn = c[positive, :].sum() - tp
        tn = c.sum() - tp - fp - fn
        out.update({f"tp_{unit}": tp, f"fp_{unit}": fp, f"fn_{unit}": fn, f"tn_{unit}": tn})
    unit = "km2" if area is not None else "px"
    tp, fp, fn = out[f"tp_{unit}"], out[f"fp_{unit}"], out[f"fn_{unit}"]
    out["reference_positive_" + unit] = tp + fn
    out["predicted_positive_" + unit] = tp + fp
    out["precision"] = float(_div(tp, tp + fp))
    out["recall"] = float(_div(tp, tp + fn))
    out["f1"] = float(_div(2 * tp, 2 * tp + fp + fn))
    return {k: float(v) for k, v in out.items()}


def site_means(
    summaries: Sequence[dict[str, float]], keys: Sequence[str] = ("f1", "precision", "recall")
) -> dict[str, float]:
    """Unweighted and reference-positive-area-weighted means of ``keys`` across sites.

    Sites where a metric is undefined (NaN) are left out of that metric's means.
    Returns ``{"mean_f1": ..., "weighted_f1": ..., ...}``.
    """
    out: dict[str, float] = {}
    for key in keys:
        vals = np.array([s[key] for s in summaries], dtype=np.float64)
        weights = np.array(
            [s.get("reference_positive_km2", s.get("reference_positive_px", 0.0)) for s in summaries],
            dtype=np.float64,
        )
        ok = np.isfinite(vals)
        out[f"mean_{key}"] = float(vals[ok].mean()) if ok.any() else float("nan")
        w = weights[ok]
        out[f"weighted_{key}"] = (
            float((vals[ok] * w).sum() / w.sum()) if ok.any() and w.sum() > 0 else float("nan")
        )
    return out
