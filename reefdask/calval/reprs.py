"""Notebook views (``_repr_html_``) of calval results: confusion matrices, accuracies, areas.

Each result class has a one-line ``_repr_html_`` that calls the matching function here,
so that the markup lives in one place (built with :mod:`reefdask.reporting.html`).

Examples
--------
>>> import numpy as np
>>> from reefdask.calval.confusion import Confusion
>>> html = confusion_html(Confusion((1, 2), np.array([[8, 2], [1, 9]]), 3), ["reef", "<sand>"])
>>> "&lt;sand&gt;" in html and ">8</td>" in html
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from reefdask.reporting.html import Markup, block, esc, fields, fmt, section, swatch, table

__all__ = ["confusion_html", "confusion_table", "evaluation_html", "stratified_html"]


def _shade(value: float, top: float, diagonal: bool) -> str:
    """Cell background: green on the diagonal, red off it, stronger for larger shares."""
    a = 0.0 if top <= 0 else min(1.0, float(value) / top) * 0.6
    rgb = "44,160,44" if diagonal else "214,39,40"
    return f"rgba({rgb},{a:.2f})"


def confusion_table(
    matrix: Any, names: Sequence[Any], *, rows: str = "reference", cols: str = "predicted", digits: int = 4
) -> str:
    """A square matrix as a table with class names on both axes and row/column totals, cells shaded."""
    m = np.asarray(matrix, dtype=np.float64)
    integer = bool(np.all(m == np.round(m)))
    show = (lambda v: f"{int(v):,}") if integer else (lambda v: fmt(float(v), digits))
    top = float(m.max()) if m.size else 0.0
    head = "".join(f'<th style="padding:1px 6px;text-align:right">{esc(n)}</th>' for n in names)
    out = [
        '<table style="border-collapse:collapse;margin:2px 0 6px 0">',
        f'<tr><th style="padding:1px 6px;text-align:left">{esc(rows)} \\ {esc(cols)}</th>{head}'
        '<th style="padding:1px 6px;text-align:right">total</th></tr>',
    ]
    for i, name in enumerate(names):
        cells = "".join(
            f'<td style="padding:1px 6px;text-align:right;background:{_shade(m[i, j], top, i == j)}">'
            f"{esc(show(m[i, j]))}</td>"
            for j in range(len(names))
        )
        out.append(
            f'<tr><th style="padding:1px 6px;text-align:left">{esc(name)}</th>{cells}'
            f'<td style="padding:1px 6px;text-align:right">{esc(show(m[i].sum()))}</td></tr>'
        )
    totals = "".join(
        f'<td style="padding:1px 6px;text-align:right">{esc(show(v))}</td>' for v in m.sum(axis=0)
    )
    out.append(
        f'<tr><th style="padding:1px 6px;text-align:left">total</th>{totals}'
        f'<td style="padding:1px 6px;text-align:right">{esc(show(m.sum()))}</td></tr></table>'
    )
    return "".join(out)


def confusion_html(cm: Any, names: Sequence[Any] | None = None) -> str:
    """A :class:`~reefdask.calval.confusion.Confusion`: pixels, and km² when it has areas."""
    names = list(names) if names is not None else [str(c) for c in cm.labels]
    parts = [confusion_table(cm.counts, names), fields({"pixels excluded (nodata, mask)": int(cm.excluded)})]
    if cm.area is not None:
        parts.append(section("area (km²)", confusion_table(cm.area, names), open=False))
    return block("Confusion", f"{len(names)} classes, {cm.total:,} pixels", *parts)


def _class_rows(result: Any, names: Sequence[Any], colors: Sequence[str]) -> list[list[Any]]:
    m = result.metrics
    area = result.area_metrics
    return [
        [swatch(colors[i] if i < len(colors) else "#dddddd", name), m["precision"][i], m["recall"][i],
         m["f1"][i], m["iou"][i], int(m["support"][i]),
         area["support"][i] if result.confusion.area is not None else None]
        for i, name in enumerate(names)
    ]  # fmt: skip


def evaluation_html(ev: Any) -> str:
    """An :class:`~reefdask.calval.evaluate.Evaluation`: headline, pooled matrix, per class, per site."""
    pooled = ev.pooled
    names = list(ev.names)
    about: dict[str, Any] = {
        "level": ev.level,
        "positive class": None if ev.positive is None else names[list(ev.labels).index(ev.positive)],
        "sites": len(ev.sites),
        "overall accuracy": pooled.metrics["overall_accuracy"],
        "kappa": pooled.metrics["kappa"],
    }
    about.update({k.replace("_", " "): v for k, v in ev.means.items()})
    parts = [fields(about)]
    parts.append(
        section("confusion matrix, pooled (pixels)", confusion_table(pooled.confusion.counts, names))
    )
    if pooled.confusion.area is not None:
        km2 = confusion_table(pooled.confusion.area, names)
        parts.append(section("confusion matrix, pooled (km²)", km2, open=False))
    head = [
        "class",
        "precision (user's)",
        "recall (producer's)",
        "F1",
        "IoU",
        "reference px",
        "reference km²",
    ]
    parts.append(section("per class, pooled", table(head, _class_rows(pooled, names, ev.colors))))
    if pooled.binary is not None:
        b = pooled.binary
        unit = "km2" if "tp_km2" in b else "px"
        cells = [[k.upper(), b.get(f"{k}_px"), b.get(f"{k}_km2")] for k in ("tp", "fp", "fn", "tn")]
        parts.append(section(f"{names[list(ev.labels).index(ev.positive)]} vs rest ({unit} scores)",
                             table(["", "pixels", "km²"], cells), open=False))  # fmt: skip
    if len(ev.sites) > 1 or ev.sites[0].name != "all":
        rows = [
            [s.name, *((s.binary or {}).get(k) for k in ("f1", "precision", "recall")),
             s.metrics["overall_accuracy"]]
            for s in ev.sites
        ]  # fmt: skip
        sites = table(["site", "F1", "precision", "recall", "overall accuracy"], rows)
        parts.append(section(f"{len(ev.sites)} sites", sites, open=False))
    if ev.notes:
        notes = "".join(f"<li>{esc(n)}</li>" for n in ev.notes)
        parts.append(section("notes", f"<ul>{notes}</ul>", open=False))
    return block("Calval evaluation", ev.name, *parts)


def _pm(value: float, ci: float) -> Markup:
    """``0.812 ± 0.034`` (escaped), or the value alone when its interval is undefined."""
    if not np.isfinite(ci):
        return Markup(esc(fmt(value)))
    return Markup(f"{esc(fmt(value))} ± {esc(fmt(ci, 2))}")


def stratified_html(r: Any, names: Sequence[Any] | None = None) -> str:
    """A :class:`~reefdask.calval.stratified.StratifiedAccuracy`: accuracies and areas with intervals."""
    n = len(r.users)
    names = list(names) if names is not None else [str(v) for v in (r.labels or range(1, n + 1))]
    level = f"{100 * r.confidence:g} %"
    about = {
        "overall accuracy": _pm(r.overall, r.overall_ci),
        "confidence level": level,
        "sample units": int(np.asarray(r.counts).sum()),
        "mapped area (total)": float(np.sum(r.stratum_areas)),
    }
    rows = [
        [names[i], int(np.asarray(r.counts)[i].sum()), _pm(r.users[i], r.users_ci[i]),
         _pm(r.producers[i], r.producers_ci[i]), float(r.stratum_areas[i]), _pm(r.area[i], r.area_ci[i])]
        for i in range(n)
    ]  # fmt: skip
    head = ["class", "samples", "user's accuracy", "producer's accuracy", "mapped area", "estimated area"]
    parts = [
        fields(about),
        section(f"per class (± {level} half-widths)", table(head, rows)),
        section("sample counts", confusion_table(r.counts, names, rows="map", cols="reference"), open=False),
    ]
    return block("Stratified accuracy", f"{n} classes (Olofsson et al. 2014)", *parts)
