"""PNG figures of calval reports (matplotlib's object API on the Agg canvas: no pyplot state).

Each function writes one PNG and returns its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["confusion_figure", "class_bars_figure", "site_maps_figure", "comparison_figure", "ERROR_COLORS"]

#: error-map colours: true positive, false positive, false negative, true negative, nodata
ERROR_COLORS = {"TP": "#1a9641", "FP": "#d7191c", "FN": "#2b83ba", "TN": "#e0e0e0", "nodata": "#ffffff"}


def _figure(w: float, h: float) -> Any:
    from reefdask.reporting.figures import agg_figure

    return agg_figure(w, h)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", bbox_inches="tight")
    return path


def confusion_figure(area: np.ndarray, names: list[str], path: Path, title: str) -> Path:
    """Heatmap of the km² matrix, coloured by row share (recall), annotated with km²."""
    a = np.asarray(area, dtype=np.float64)
    share = a / np.where(a.sum(axis=1, keepdims=True) > 0, a.sum(axis=1, keepdims=True), 1)
    n = len(names)
    fig = _figure(1.2 + 0.7 * n, 1.0 + 0.6 * n)
    ax = fig.add_subplot()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                f"{a[i, j]:.3g}",
                ha="center",
                va="center",
                fontsize=7,
                color="k" if share[i, j] < 0.6 else "w",
            )
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("prediction")
    ax.set_ylabel("reference")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="share of reference area", shrink=0.8)
    return _save(fig, path)


def class_bars_figure(metrics: dict[str, Any], names: list[str], path: Path, title: str) -> Path:
    """Grouped bars of precision, recall, F1 and IoU per class (area based)."""
    keys = ("precision", "recall", "f1", "iou")
    n = len(names)
    fig = _figure(max(4.0, 0.9 * n + 1.5), 3.2)
    ax = fig.add_subplot()
    x = np.arange(n)
    for k, key in enumerate(keys):
        vals = np.nan_to_num(np.asarray(metrics[key], dtype=np.float64), nan=0.0)
        ax.bar(x + (k - 1.5) * 0.2, vals, width=0.2, label=key)
    ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.08))
    return _save(fig, path)


def _class_rgb(codes: np.ndarray, labels: tuple[int, ...], colors: tuple[str, ...]) -> np.ndarray:
    rgb = np.ones((*codes.shape, 3))
    for code, hx in zip(labels, colors, strict=True):
        rgb[codes == code] = [int(hx[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    return rgb


def error_map(pred: np.ndarray, ref: np.ndarray, positive: int | None, valid: np.ndarray) -> np.ndarray:
    """RGB error map: TP/FP/FN/TN of ``positive`` (or right/wrong without one); white = nodata."""

    def rgb(hx: str) -> list[float]:
        return [int(hx[i : i + 2], 16) / 255 for i in (1, 3, 5)]

    out = np.ones((*pred.shape, 3))
    if positive is None:
        out[valid & (pred == ref)] = rgb(ERROR_COLORS["TP"])
        out[valid & (pred != ref)] = rgb(ERROR_COLORS["FP"])
        return out
    p, r = pred == positive, ref == positive
    for key, sel in (("TP", p & r), ("FP", p & ~r), ("FN", ~p & r), ("TN", ~p & ~r)):
        out[valid & sel] = rgb(ERROR_COLORS[key])
    return out


def site_maps_figure(site: Any, ev: Any, path: Path) -> Path:
    """Side by side: imagery (when given), prediction, reference and the error map."""
    from matplotlib.patches import Patch

    pv = site.preview
    pred, ref = pv["prediction"], pv["reference"]
    valid = (pred != 255) & (ref != 255) & pv.get("mask", np.ones(pred.shape, dtype=bool))
    panels = []
    if "imagery" in pv:
        panels.append(("imagery", np.moveaxis(pv["imagery"], 0, -1).astype(np.uint8)))
    panels.append(("prediction", _class_rgb(pred, ev.labels, ev.colors)))
    panels.append(("reference", _class_rgb(ref, ev.labels, ev.colors)))
    panels.append(("errors", error_map(pred, ref, ev.positive, valid)))
    aspect = pred.shape[0] / max(pred.shape[1], 1)
    fig = _figure(3.2 * len(panels), 3.2 * aspect + 1.2)
    for k, (label, img) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        ax.imshow(img, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_axis_off()
    keys = ("TP", "FP", "FN", "TN") if ev.positive is not None else ()
    handles = [Patch(color=ERROR_COLORS[k], label=k) for k in keys]
    handles += [Patch(color=c, label=n) for n, c in zip(ev.names, ev.colors, strict=True)]
    fig.legend(handles=handles, loc="lower center", ncols=min(len(handles), 9), fontsize=7)
    fig.suptitle(f"{ev.name} at {site.name}", fontsize=10)
    return _save(fig, path)


def comparison_figure(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Horizontal bars of area-weighted F1, precision and recall per map (best on top)."""
    keys = ("weighted_f1", "weighted_precision", "weighted_recall")
    n = len(rows)
    fig = _figure(6.5, 1.2 + 0.55 * n)
    ax = fig.add_subplot()
    from matplotlib.patches import Patch

    y = np.arange(n)[::-1]
    handles = []
    for k, key in enumerate(keys):
        vals = [r.get(key) or 0.0 for r in rows]
        bars = ax.barh(y + (1 - k) * 0.27, vals, height=0.27)
        handles.append(
            Patch(color=bars.patches[0].get_facecolor(), label=key.replace("weighted_", "weighted "))
        )
        for bar, row in zip(bars, rows, strict=True):
            if row.get("role") == "baseline":
                bar.set_hatch("//")
    handles.append(Patch(facecolor="white", edgecolor="k", hatch="//", label="baseline"))
    ax.set_yticks(y, [f"{r['name']} ({r.get('role', 'model')})" for r in rows], fontsize=8)
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("score (weighted by reference reef area)")
    ax.set_title(title, fontsize=9)
    ax.legend(
        handles=handles,
        fontsize=7,
        ncols=4,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.35 / max(n, 1) - 0.2),
    )
    return _save(fig, path)
