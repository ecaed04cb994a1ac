"""The steps of ``reefdask demo``: each one short function that calls the library.

Every step takes the :class:`DemoPlan` (where things go, which quads play which part,
the sizes of ``--fast`` or normal mode) and returns a JSON-friendly dict whose
``summary`` is printed; ``figures`` lists the PNGs it made, ``links`` its reports.
Nothing here computes a result itself: synthesis, ingest, samples, training,
prediction, calval, the global run and its export are the library's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reefdask.errors import ConfigError

__all__ = [
    "DemoPlan",
    "plan_demo",
    "synth",
    "acquire",
    "ingest",
    "samples",
    "train",
    "predict",
    "calval",
    "global_run",
    "progress",
    "export",
]

REGION = "belize"


@dataclass(frozen=True)
class DemoPlan:
    """Where the demo writes, which quads train / are held out / are special, and how big."""

    out: Path
    quads: list[str]
    held_out: list[str]
    no_reef: str
    corrupt: str
    size: int
    seed: int
    fast: bool

    @property
    def bucket(self) -> Path:
        """The local folder that stands in for the provider's bucket."""
        return self.out / "bucket"

    @property
    def acquired(self) -> Path:
        """The local copies that ``acquire`` verified (the corrupt quad is not among them)."""
        return self.out / "acquired"

    def image(self, quad: str, root: Path | None = None) -> Path:
        """The imagery GeoTIFF of ``quad`` under ``root`` (default: the acquired copies)."""
        return (root or self.acquired) / "imagery" / REGION / f"{quad}.tif"

    def label(self, quad: str, root: Path | None = None) -> Path:
        """The label GeoTIFF of ``quad`` under ``root`` (default: the acquired copies)."""
        return (root or self.acquired) / "labels" / REGION / f"{quad}.tif"

    @property
    def model(self) -> Path:
        """The trained model (its card and report beside it)."""
        return self.out / "model" / "unet.keras"

    @property
    def run(self) -> Path:
        """The global run's store."""
        return self.out / "global-run"


def plan_demo(out: Path, *, quads: int, size: int, seed: int, fast: bool) -> DemoPlan:
    """Lay out the quads: a block of ``quads``, the last one forced no-reef, the two before held out.

    The corrupt quad sits just east of the block's first row (a neighbouring quad id).
    """
    from reefdask.synthetic import default_quads

    if quads < 4:
        raise ConfigError(
            f"--quads {quads} is too few: the demo trains on some quads, holds out 2 and forces "
            "1 to be reef-free; use --quads 4 or more (16 by default)."
        )
    block = default_quads(quads)
    cols = max(q.x for q in block) - block[0].x + 1
    ids = [q.id for q in block]
    return DemoPlan(
        out=out,
        quads=ids,
        held_out=ids[-3:-1],
        no_reef=ids[-1],
        corrupt=block[0].offset(cols, 0).id,
        size=size,
        seed=seed,
        fast=fast,
    )


def synth(p: DemoPlan) -> dict[str, Any]:
    """SYNTHETIC quads into ``<out>/bucket`` (one forced no-reef) plus one truncated, corrupt quad."""
    from reefdask.synthetic import synth_quads, write_corrupt_quad

    b = p.bucket
    files = [p.image(q, b) for q in p.quads] + [p.label(q, b) for q in p.quads] + [p.image(p.corrupt, b)]
    if all(f.exists() for f in files):
        return {"summary": f"{len(p.quads)} + 1 corrupt quads already in {b} (reused)", "reused": True}
    kinds = {p.no_reef: "no_reef"}
    made = synth_quads(b, quads=p.quads, size=p.size, seed=p.seed, region=REGION, kinds=kinds)
    write_corrupt_quad(p.image(p.corrupt, b), p.corrupt, size=p.size, seed=p.seed)
    return {
        "summary": f"{len(made)} SYNTHETIC quads of {p.size} px (no-reef: {p.no_reef}) "
        f"+ corrupt {p.corrupt} under {p.bucket}",
        "quads": [m.quad.id for m in made],
        "kinds": {m.quad.id: m.kind for m in made},
        "corrupt": p.corrupt,
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


def ingest(p: DemoPlan, client: Any) -> dict[str, Any]:
    """The acquired imagery into a Zarr cube (one group per quad)."""
    from reefdask.cube import ingest as ingest_cube

    store = p.out / "cube.zarr"
    report = ingest_cube(str(p.acquired / "imagery"), str(store), chunk=min(512, p.size), client=client)
    if not report.ok:
        raise RuntimeError(report.summary())
    return {"summary": report.summary().replace("\n", ";"), "store": str(store), **report.to_dict()}


def samples(p: DemoPlan, client: Any) -> dict[str, Any]:
    """Training windows from every quad but the held-out ones (spatial folds, rare classes favoured)."""
    from reefdask.train.config import SamplesConfig
    from reefdask.train.samples import build_samples

    train_quads = [q for q in p.quads if q not in p.held_out]
    cfg = SamplesConfig(
        store=str(p.out / "samples.zarr"),
        scenes=[{"features": str(p.image(q)), "labels": str(p.label(q))} for q in train_quads],
        window_radius=32,
        loss_window_radius=16,
        stride=16,
        max_samples=300 if p.fast else 1200,
        n_folds=4,
        validation_fold=0,
        fold_block=128,
        chunk_samples=32,
        balance={"mode": "oversample", "power": 0.5},
        seed=p.seed,
    )
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
    from reefdask.train.config import TrainConfig
    from reefdask.train.fit import train as fit

    cfg = TrainConfig(
        samples=str(p.out / "samples.zarr"),
        outdir=str(p.model.parent),
        name=p.model.stem,
        architecture={"name": "unet", "filters": 8, "blocks": [2, 2, 2], "growth": 2},
        epochs=3 if p.fast else 20,
        steps_per_epoch=8 if p.fast else 30,
        validation_steps=4 if p.fast else None,
        batch_size=16,
        learning_rate=1e-2,
        augment={"blur_probability": 0.0, "noise": 0.01},
        tensorboard=False,
        seed=p.seed,
    )
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
    """A global run over the bucket's inventory, the corrupt and no-reef quads included."""
    from reefdask.globalmap.config import GlobalConfig
    from reefdask.globalmap.run import run_job

    inventory = str(p.bucket / "imagery")  # the bucket itself: the corrupt quad is in it
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
    return {
        "summary": f"{s['cogs']} COGs of {s['blocks']} quads, products {', '.join(s['products'])}",
        "stac": s["stac"],
        "vrt": s["vrt"],
        "cogs": s["cogs"],
    }
