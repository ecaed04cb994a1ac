"""The steps of ``reefdask demo``: each one short function that calls the library.

Every step takes the :class:`~reefdask.demo.plan.DemoPlan` (where things go, which quads
play which part, the sizes of ``--fast`` or normal mode) and returns a JSON-friendly dict
whose ``summary`` is printed; ``figures`` lists the PNGs it made, ``reports`` its reports.
Nothing here computes a result itself: acquisition, ingest, samples, training,
prediction, calval, the global run and its export are the library's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reefdask.core.grid import Quad
from reefdask.demo.plan import REGION, DemoPlan, clean_config, samples_config, train_config

__all__ = [
    "synth",
    "inventory",
    "acquire",
    "clean",
    "ingest",
    "samples",
    "train",
    "predict",
    "calval",
    "global_run",
    "progress",
    "export",
]


def synth(p: DemoPlan) -> dict[str, Any]:
    """SYNTHETIC quads into ``<out>/bucket`` (one reef-free, with open water east of it) and a corrupt one."""
    from reefdask.synthetic.quads import synth_quads, write_corrupt_quad

    b, quads = p.bucket, p.synthetic
    files = [p.image(q, b) for q in quads] + [p.label(q, b) for q in quads] + [p.image(p.corrupt, b)]
    if all(f.exists() for f in files):
        return {"summary": f"{len(quads)} + 1 corrupt quads already in {b} (reused)", "reused": True}
    kinds: dict[Quad | str, str] = {p.no_reef: "no_reef", p.water: "no_reef"}
    made = synth_quads(b, quads=quads, size=p.size, seed=p.seed, region=REGION, kinds=kinds)
    write_corrupt_quad(p.image(p.corrupt, b), p.corrupt, size=p.size, seed=p.seed)
    return {
        "summary": f"{len(made)} SYNTHETIC quads of {p.size} px (no-reef: {p.no_reef}, open water east "
        f"of it: {p.water}) + corrupt {p.corrupt} under {p.bucket}",
        "quads": [m.quad.id for m in made],
        "kinds": {m.quad.id: m.kind for m in made},
        "no_reef": p.no_reef,
        "water": p.water,
        "corrupt": p.corrupt,
    }


def inventory(p: DemoPlan) -> dict[str, Any]:
    """List the bucket's imagery into a quad inventory (the global run works from it)."""
    from reefdask.acquire.inventory import build_inventory

    inv = build_inventory(str(p.bucket / "imagery"), pattern="*/L15-*.tif")
    url = inv.write(str(p.out / "inventory.parquet"))
    info = inv.summary()
    return {
        "summary": f"{len(inv)} quads in the bucket (regions {info['regions']}) -> {url}",
        "inventory": url,
        "quads": inv.ids,
        "regions": info["regions"],
    }


def acquire(p: DemoPlan, client: Any) -> dict[str, Any]:
    """Copy the bucket's imagery and labels to local disk, verified; the corrupt quad must be refused."""
    from reefdask.acquire.manifest import Manifest
    from reefdask.acquire.run import acquire as run_acquire

    manifest = Manifest(
        destination=str(p.acquired),
        sources=[
            {"name": kind, "kind": kind, "url": str(p.bucket / kind), "pattern": "*/L15-*.tif"}
            for kind in ("imagery", "labels")
        ],
        workers=2,
    )
    r = run_acquire(manifest, progress=False, client=client)
    refused = [o.item.source for o in r.failed]
    if any(p.corrupt not in src for src in refused):
        raise RuntimeError(r.summary())
    return {
        "summary": r.summary().replace("\n", ";"),
        "destination": str(p.acquired),
        "copied": len(r.copied),
        "skipped": len(r.skipped),
        "refused": refused,
    }


def clean(p: DemoPlan) -> dict[str, Any]:
    """The acquired copies cleaned: alpha -> nodata, labels onto each quad's exact grid."""
    from reefdask.clean import run_clean

    r = run_clean(clean_config(p), progress=False)
    if not r.ok:
        raise RuntimeError(r.summary())
    counts = r.counts()
    parts = [f"{step}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())) for step, c in counts.items()]
    return {
        "summary": "; ".join(parts) + f" -> {p.cleaned}",
        "output": str(p.cleaned),
        "counts": counts,
    }


def ingest(p: DemoPlan, client: Any) -> dict[str, Any]:
    """The cleaned imagery into a Zarr cube (one group per quad)."""
    from reefdask.cube.ingestion import ingest as ingest_cube

    store = p.out / "cube.zarr"
    report = ingest_cube(str(p.cleaned / "imagery"), str(store), chunk=min(512, p.size), client=client)
    if not report.ok:
        raise RuntimeError(report.summary())
    return {"summary": report.summary().replace("\n", ";"), "store": str(store), **report.to_dict()}


def samples(p: DemoPlan, client: Any) -> dict[str, Any]:
    """Training windows from every quad but the held-out ones (spatial folds, rare classes favoured)."""
    from reefdask.train.samples import build_samples

    train_quads = p.train_quads
    cfg = samples_config(p)
    r = build_samples(cfg, client=client)
    return {
        "summary": f"{r.n_samples} windows of 64 px from {len(train_quads)} quads "
        f"(folds {dict(sorted(r.per_fold.items()))}, {'built' if r.built else 'reused'})",
        "store": cfg.store,
        "built": r.built,
        "n_samples": r.n_samples,
        "per_fold": r.per_fold,
        "rejected": r.rejected,
        "train_quads": train_quads,
    }


def train(p: DemoPlan) -> dict[str, Any]:
    """A small U-Net: few epochs, 8 filters; ``model.keras`` + card + HTML report."""
    from reefdask.train.fit import train as fit

    cfg = train_config(p)
    r = fit(cfg)
    keep = ("val_macro_f1", "val_overall_accuracy", "val_macro_iou", "reef_f1", "val_loss", "best_epoch")
    metrics = {k: round(float(r.metrics[k]), 4) for k in keep if k in r.metrics}
    report = p.model.parent / "report" / "index.html"
    return {
        "summary": ("skipped (already trained): " if r.skipped else f"{len(r.history)} epochs: ")
        + ", ".join(f"{k} {v}" for k, v in metrics.items()),
        "model": r.model,
        "card": r.card,
        "report": str(report),
        "skipped": r.skipped,
        "metrics": metrics,
        "figures": sorted(str(f) for f in report.parent.glob("*.png")),
    }


def predict(p: DemoPlan, client: Any) -> dict[str, Any]:
    """The model on each held-out quad, chunk by chunk into a resumable Zarr store."""
    from reefdask.predict import predict as run_predict

    stores, parts, computed = {}, [], 0
    for q in p.held_out:
        store = p.out / "predictions" / f"{q}.zarr"
        ds = run_predict(str(p.image(q)), str(p.model), str(store), chunk=p.size, client=client)
        s = ds.attrs["prediction_summary"]
        stores[q] = str(store)
        computed += s["computed"]
        parts.append(f"{q}: {s['counts'].get('done', 0)}/{s['total']} chunks done")
        if s["failures"]:
            raise RuntimeError(f"prediction of {q} failed: {s['failures']}")
    return {
        "summary": "; ".join(parts) + f" ({computed} computed by this run)",
        "stores": stores,
        "computed": computed,
    }


def calval(p: DemoPlan, stores: dict[str, str]) -> dict[str, Any]:
    """Reef-level accuracy of each held-out prediction against its labels."""
    import json

    from reefdask.calval.config import CalvalConfig
    from reefdask.calval.run import run_calval

    reports, scores, figures = {}, {}, []
    for q in p.held_out:
        cfg = CalvalConfig(
            outdir=f"calval/{q}",
            reference={"url": str(p.label(q)), "level": "detailed"},
            models=[{"name": "unet", "url": stores[q]}],
            imagery=str(p.image(q)),
            level="reef",
            chunks=max(16, p.size),
            title=f"Held-out quad {q} (SYNTHETIC)",
        )
        res = run_calval(cfg, base_dir=p.out)
        rep = json.loads(Path(res["reports"]["unet"]).read_text())
        scores[q] = _reef_scores(rep)
        reports[q] = str(Path(res["reports"]["unet"]).with_suffix(".html"))
        figures += sorted(str(f) for f in Path(res["reports"]["unet"]).parent.rglob("*.png"))
    return {
        "summary": "; ".join(f"{q}: {_pairs(sc)}" for q, sc in scores.items()),
        "reports": reports,
        "scores": scores,
        "figures": figures,
    }


def _pairs(d: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items())


def _reef_scores(rep: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of a calval ``report.json``: reef F1, precision, recall (area-weighted)."""
    means = rep.get("means", {})
    keys = {"reef_f1": "weighted_f1", "precision": "weighted_precision", "recall": "weighted_recall"}
    return {k: round(float(means[v]), 4) for k, v in keys.items() if isinstance(means.get(v), int | float)}


def global_run(p: DemoPlan, client: Any) -> dict[str, Any]:
    """A global run over the bucket's inventory (raw quads), the corrupt and no-reef quads included."""
    from reefdask.globalmap.config import GlobalConfig
    from reefdask.globalmap.run import run_job

    inventory = str(p.out / "inventory.parquet")  # every quad of the bucket, the corrupt one too
    cfg = GlobalConfig(run=str(p.run), models=[str(p.model)], inventory=inventory, batch=4)
    lines: list[str] = []
    r = run_job(cfg, client=client, log=lines.append)
    return {
        "summary": str(r),
        "run": str(p.run),
        "nothing_to_do": r.nothing_to_do,
        "statuses": r.statuses,
        "computed": r.computed,
    }


def progress(p: DemoPlan) -> dict[str, Any]:
    """Where the run stands: counts per status, failures with reasons, and a map of statuses."""
    from reefdask.globalmap.progress import draw_map, format_progress
    from reefdask.globalmap.progress import progress as run_progress

    prog = run_progress(str(p.run))
    png = draw_map(prog, str(p.out / "global-progress.png"))
    text = format_progress(prog)
    return {
        "summary": " ".join(f"{k} {v}" for k, v in prog["counts"].items() if v),
        "text": text,
        "counts": prog["counts"],
        "failures": prog["failures"],
        "map": png,
        "figures": [png],
    }


def export(p: DemoPlan) -> dict[str, Any]:
    """COGs, VRT mosaics and a STAC catalog of the run's ``done`` quads."""
    from reefdask.globalmap.export import export_run

    s = export_run(str(p.run), str(p.out / "export"))
    figures = [_heat_png(s["vrt"]["heat"], p.out / "global-heat.png")] if "heat" in s["vrt"] else []
    return {
        "summary": f"{s['cogs']} COGs of {s['blocks']} quads, products {', '.join(s['products'])}",
        "stac": s["stac"],
        "vrt": s["vrt"],
        "cogs": s["cogs"],
        "figures": figures,
    }


def _heat_png(vrt: str, png: Path) -> str:
    """A look at the exported reef heat mosaic (read through its VRT, as a GIS would)."""
    import numpy as np
    import rasterio

    from reefdask.reporting.figures import agg_figure

    with rasterio.open(vrt) as ds:
        f = max(1, max(ds.width, ds.height) // 1024)
        heat = ds.read(1, out_shape=(ds.height // f, ds.width // f), masked=True)
    fig = agg_figure(7, 6)
    ax = fig.add_subplot()
    im = ax.imshow(np.ma.masked_equal(heat, 255), cmap="magma", vmin=0, vmax=100)
    fig.colorbar(im, ax=ax, label="reef probability (%)")
    ax.set_title("Global run: reef heat of the done quads (SYNTHETIC)")
    ax.set_axis_off()
    fig.savefig(png, dpi=100, bbox_inches="tight")
    return str(png)
