"""Calval reports: HTML with a Markdown twin and a JSON of every number, plus PNG figures.

:func:`write_report` documents one evaluation; :func:`compare_reports` ranks many
(models and baseline maps evaluated at the same sites) by area-weighted F1.
Numbers are printed with :func:`fmt` (4 decimals), so a reader can find each JSON value
in the tables.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from reefdask.errors import InputNotFoundError, ReefdaskError

__all__ = ["fmt", "write_report", "compare_reports"]


def fmt(v: Any) -> str:
    """``0.9542`` for floats, ``12`` for integers, ``n/a`` for undefined values."""
    if v is None:
        return "n/a"
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if isinstance(v, int) or (float(v).is_integer() and abs(v) > 1e4):
        return str(int(v))
    return "n/a" if v != v else f"{v:.4f}"


class _Doc:
    """Builds the Markdown and HTML twins side by side."""

    def __init__(self, title: str) -> None:
        self.md = [f"# {title}", ""]
        self.html = [f"<h1>{html.escape(title)}</h1>"]
        self.title = title

    def heading(self, text: str) -> None:
        self.md += [f"## {text}", ""]
        self.html.append(f"<h2>{html.escape(text)}</h2>")

    def para(self, text: str) -> None:
        self.md += [text, ""]
        self.html.append(f"<p>{html.escape(text)}</p>")

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        cells = [[fmt(c) for c in row] for row in rows]
        self.md.append("| " + " | ".join(header) + " |")
        self.md.append("|" + "---|" * len(header))
        self.md += ["| " + " | ".join(r) + " |" for r in cells]
        self.md.append("")
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in cells)
        self.html.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def image(self, path: Path, root: Path, alt: str) -> None:
        rel = path.relative_to(root).as_posix()
        self.md += [f"![{alt}]({rel})", ""]
        self.html.append(f'<figure><img src="{html.escape(rel)}" alt="{html.escape(alt)}"></figure>')

    def write(self, outdir: Path, stem: str) -> tuple[Path, Path]:
        md, page = outdir / f"{stem}.md", outdir / f"{stem}.html"
        md.write_text("\n".join(self.md) + "\n")
        style = (
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
            "margin:1em 0}td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}img{max-width:100%}"
        )
        page.write_text(
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
            f"<style>{style}</style></head><body>{''.join(self.html)}</body></html>\n"
        )
        return md, page


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-") or "site"


def write_report(
    evaluation: Any, outdir: str | Path, *, title: str | None = None, role: str = "model"
) -> dict[str, Path]:
    """Write ``report.json``, ``report.md``, ``report.html`` and ``figures/*.png`` into ``outdir``."""
    from reefdask.calval.figures import class_bars_figure, confusion_figure, site_maps_figure

    ev, out = evaluation, Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    data = {"role": role, **ev.to_dict()}
    names = list(ev.names)
    doc = _Doc(title or f"Accuracy of {ev.name} ({ev.level} level)")
    src = ev.inputs
    doc.para(
        f"Prediction: {src['prediction']['url']}. Reference: {src['reference']['url']}. Grid: {src['grid']}."
    )
    for note in ev.notes:
        doc.para(f"Note: {note}")
    if ev.positive is not None:
        pos = names[ev.labels.index(ev.positive)]
        doc.heading(f"Sites ({pos} is the positive class; areas in km²)")
        rows = []
        for s in ev.sites:
            b = s.binary
            rows.append(
                [
                    s.name,
                    b["tp_km2"],
                    b["fp_km2"],
                    b["fn_km2"],
                    b["tn_km2"],
                    b["precision"],
                    b["recall"],
                    b["f1"],
                ]
            )
        doc.table(["site", "TP km²", "FP km²", "FN km²", "TN km²", "precision", "recall", "F1"], rows)
        m = ev.means
        doc.table(
            ["across sites", "F1", "precision", "recall"],
            [
                ["unweighted mean", m["mean_f1"], m["mean_precision"], m["mean_recall"]],
                [
                    "weighted by reference area",
                    m["weighted_f1"],
                    m["weighted_precision"],
                    m["weighted_recall"],
                ],
            ],
        )
    p = ev.pooled
    doc.heading("Pooled over sites: per class (area based)")
    am, pm = p.area_metrics, p.metrics
    doc.para(
        f"Overall accuracy {fmt(am['overall_accuracy'])} (by pixels {fmt(pm['overall_accuracy'])}); "
        f"Cohen's kappa {fmt(am['kappa'])} (by pixels {fmt(pm['kappa'])}); "
        f"{p.confusion.total} pixels counted, {p.confusion.excluded} nodata or outside the sites."
    )
    doc.table(
        [
            "class",
            "code",
            "reference km²",
            "support px",
            "precision (user's)",
            "recall (producer's)",
            "F1",
            "IoU",
        ],
        [
            [
                n,
                c,
                am["support"][i],
                int(pm["support"][i]),
                am["precision"][i],
                am["recall"][i],
                am["f1"][i],
                am["iou"][i],
            ]
            for i, (n, c) in enumerate(zip(names, ev.labels, strict=True))
        ],
    )
    doc.heading("Confusion matrix (rows reference, columns prediction), km²")
    doc.table(
        ["reference \\ prediction", *names],
        [[n, *row] for n, row in zip(names, p.confusion.area.tolist(), strict=True)],
    )
    doc.heading("Confusion matrix, pixels")
    doc.table(
        ["reference \\ prediction", *names],
        [[n, *row] for n, row in zip(names, p.confusion.counts.tolist(), strict=True)],
    )
    figs = out / "figures"
    files: dict[str, Path] = {}
    files["confusion_png"] = confusion_figure(
        p.confusion.area, names, figs / "confusion.png", f"{ev.name}: pooled, km²"
    )
    files["classes_png"] = class_bars_figure(
        am, names, figs / "classes.png", f"{ev.name}: per class (area based)"
    )
    doc.heading("Figures")
    doc.image(files["confusion_png"], out, "confusion matrix")
    doc.image(files["classes_png"], out, "per-class scores")
    for s in ev.sites:
        if s.preview:
            key = f"site_{_slug(s.name)}_png"
            files[key] = site_maps_figure(s, ev, figs / f"site-{_slug(s.name)}.png")
            doc.image(files[key], out, f"maps at {s.name}")
    files["json"] = out / "report.json"
    files["json"].write_text(json.dumps(data, indent=1))
    files["markdown"], files["html"] = doc.write(out, "report")
    return files


def _load(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(
            f"Report {p} does not exist; pass the report.json files that `reefdask calval` wrote."
        )
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise ReefdaskError(f"{p} is not a calval report JSON ({err}); pass report.json files.") from err
    if "means" not in data or "sites" not in data:
        raise ReefdaskError(f"{p} is not a calval report JSON (no 'means'/'sites'); pass report.json files.")
    return data


def compare_reports(
    reports: list[str | Path], outdir: str | Path, *, title: str = "Model comparison"
) -> dict[str, Path]:
    """Rank evaluations by area-weighted F1 into ``comparison.{json,md,html}`` + ``comparison.png``."""
    from reefdask.calval.figures import comparison_figure

    if not reports:
        raise ReefdaskError("compare needs at least one report.json.")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    loaded = [_load(r) for r in reports]
    rows = []
    for path, d in zip(reports, loaded, strict=True):
        sites = {s["name"]: (s.get("binary") or {}).get("f1") for s in d["sites"]}
        rows.append(
            {
                "name": d["name"],
                "role": d.get("role", "model"),
                "report": str(path),
                "level": d["level"],
                **d["means"],
                "sites": sites,
            }
        )
    rows.sort(key=lambda r: (r.get("weighted_f1") is None, -(r.get("weighted_f1") or 0.0), r["name"]))
    site_names = sorted({s for r in rows for s in r["sites"]})
    notes = []
    if len({r["level"] for r in rows}) > 1:
        notes.append(
            "Reports evaluated at different levels are not comparable: "
            + ", ".join(f"{r['name']}={r['level']}" for r in rows)
        )
    if any(set(r["sites"]) != set(site_names) for r in rows):
        notes.append("Not every map was evaluated at every site; missing sites show n/a.")
    doc = _Doc(title)
    for n in notes:
        doc.para(f"Note: {n}")
    doc.heading("Ranking by F1 weighted by reference reef area")
    keys = (
        "weighted_f1",
        "weighted_precision",
        "weighted_recall",
        "mean_f1",
        "mean_precision",
        "mean_recall",
    )
    doc.table(
        [
            "rank",
            "map",
            "role",
            "weighted F1",
            "weighted precision",
            "weighted recall",
            "mean F1",
            "mean precision",
            "mean recall",
        ],
        [[i + 1, r["name"], r["role"], *(r.get(k) for k in keys)] for i, r in enumerate(rows)],
    )
    doc.heading("F1 per site")
    doc.table(["map", *site_names], [[r["name"], *(r["sites"].get(s) for s in site_names)] for r in rows])
    files = {"png": comparison_figure(rows, out / "comparison.png", title)}
    doc.image(files["png"], out, "comparison")
    files["json"] = out / "comparison.json"
    files["json"].write_text(
        json.dumps({"title": title, "ranking": rows, "sites": site_names, "notes": notes}, indent=1)
    )
    files["markdown"], files["html"] = doc.write(out, "comparison")
    return files
