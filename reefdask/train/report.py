"""The model report: an HTML page with PNG figures, written beside the model.

Figures: training curves (loss, macro F1, learning rate), the validation-fold confusion
matrix (rows normalised), per-class F1 / IoU, and sample windows (image, truth,
prediction) from the validation fold. Everything it shows comes from the model card,
the history and the sample store, so a report can be re-made from the files alone.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from reefdask.reporting.figures import subplots

__all__ = ["write_report"]


def write_report(
    outdir: Path,
    card: Any,
    history: list[dict[str, float]],
    store: Any,
    scaler: Any,
    model: Any,
    n_windows: int = 4,
) -> Path:
    """Write ``index.html`` and its PNGs into ``outdir``; return the HTML path."""
    outdir.mkdir(parents=True, exist_ok=True)
    from reefdask.core.classes import ClassSchema

    schema = ClassSchema.from_dict(card.classes)
    names, colors = list(schema.names), list(schema.colors)
    figs = {
        "curves.png": _curves(history),
        "confusion.png": _confusion(card, names),
        "classes.png": _class_bars(card, names),
        "samples.png": _samples(store, scaler, model, colors, n_windows),
    }
    for name, fig in figs.items():
        fig.savefig(outdir / name, dpi=90, bbox_inches="tight")
    page = outdir / "index.html"
    page.write_text(_html(card, names, list(figs)))
    return page


def _curves(history: list[dict[str, float]]) -> Any:
    fig, axes = subplots(1, 3, figsize=(13, 3.5))
    ep = [r["epoch"] for r in history]
    for ax, key in zip(axes, ("loss", "macro_f1", "learning_rate"), strict=True):
        for k, style in ((key, "-"), (f"val_{key}", "--")):
            vals = [r.get(k) for r in history]
            if any(v is not None for v in vals):
                ax.plot(ep, vals, style, marker="o", ms=3, label=k)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend(fontsize=8)
    return fig


def _confusion(card: Any, names: list[str]) -> Any:
    m = np.asarray(card.class_metrics["val"]["confusion"], "float64")
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    fig, ax = subplots(figsize=(7, 6))
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("prediction")
    ax.set_ylabel("truth")
    ax.set_title("validation fold, rows normalised")
    fig.colorbar(im, ax=ax)
    return fig


def _class_bars(card: Any, names: list[str]) -> Any:
    sc = card.class_metrics["val"]
    x = np.arange(len(names))
    fig, ax = subplots(figsize=(9, 3.5))
    ax.bar(x - 0.2, sc["f1"], 0.4, label="F1")
    ax.bar(x + 0.2, sc["iou"], 0.4, label="IoU")
    ax.set_xticks(x, names, rotation=90, fontsize=7)
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("validation fold, per class")
    return fig


def _samples(store: Any, scaler: Any, model: Any, colors: list[str], n: int) -> Any:
    from matplotlib.colors import ListedColormap

    from reefdask.train.dataset import load_piece

    (a, b), *_ = store.ranges("validation")
    x, y = load_piece(store, scaler, a, min(b, a + n))
    pred = model.predict(x, verbose=0).argmax(-1)
    raw = store.read("features", a, a + len(x)).astype("float32")
    cmap = ListedColormap(colors)
    fig, axes = subplots(len(x), 3, figsize=(7.5, 2.5 * len(x)), squeeze=False)
    for i in range(len(x)):
        img = raw[i, ..., :3] if raw.shape[-1] >= 3 else raw[i, ..., :1].repeat(3, -1)
        lo, hi = np.percentile(img, (2, 98))
        truth = np.ma.masked_equal(y[i, ..., 0], 255)
        for ax, im, title in zip(
            axes[i],
            (np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1), truth, pred[i]),
            ("image", "truth", "prediction"),
            strict=True,
        ):
            if im.ndim == 3:
                ax.imshow(im)
            else:
                ax.imshow(im, cmap=cmap, vmin=0, vmax=len(colors) - 1, interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    return fig


def _html(card: Any, names: list[str], figs: list[str]) -> str:
    e = html.escape
    rows = "".join(f"<tr><td>{e(k)}</td><td>{v:.4g}</td></tr>" for k, v in sorted(card.metrics.items()))
    sc = card.class_metrics["val"]
    cls = "".join(
        f"<tr><td>{e(n)}</td><td>{sc['support'][i]}</td><td>{sc['precision'][i]:.3f}</td>"
        f"<td>{sc['recall'][i]:.3f}</td><td>{sc['f1'][i]:.3f}</td><td>{sc['iou'][i]:.3f}</td></tr>"
        for i, n in enumerate(names)
    )
    imgs = "".join(f'<h2>{e(f[:-4])}</h2><img src="{e(f)}">' for f in figs)
    decision = e(str(card.model_extra.get("reef_decision"))) if card.model_extra else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(card.name)}</title></head><body>"
        f"<h1>Model {e(card.name)}</h1><p>fingerprint {e(str(card.fingerprint))}; stride {card.stride}; "
        f"receptive field radius {card.receptive_field}; halo {card.halo}; "
        f"versions {e(str(card.versions))}</p>"
        f"<p>reef decision: {decision}</p>"
        f"<h2>metrics</h2><table border=1>{rows}</table>"
        f"<h2>validation fold per class</h2><table border=1><tr><th>class</th><th>pixels</th>"
        f"<th>precision</th><th>recall</th><th>F1</th><th>IoU</th></tr>{cls}</table>{imgs}</body></html>"
    )
