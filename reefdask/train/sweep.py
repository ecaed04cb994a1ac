"""Sweeps: a grid of models over shared samples, trained, validated, compared.

The samples are built once (a samples config is built, or confirmed unchanged, before any
model; a store URL is used as it is). Each grid point becomes one
:class:`~reefdask.train.config.TrainConfig` (``base`` merged with the point's dotted keys)
trained into ``outdir/<name>``: finished models are skipped, killed ones resume. Without a
Dask client the models train one after another in this process; with one (a LocalCluster,
or SLURM GPU workers with one GPU each) each model still to train is one task named
``train-<name>-<token>``, restricted to ``{"GPU": 1}`` when the workers advertise GPUs, so
each GPU worker trains one model at a time. A failed model is recorded in the table
(``error``) and the others go on.
The comparison is written as CSV and Markdown, ranked by ``metric``, with a bar figure.

Examples
--------
>>> expand_grid({"architecture.filters": [8, 16], "learning_rate": [0.001]})
[{'architecture.filters': 8, 'learning_rate': 0.001}, {'architecture.filters': 16, 'learning_rate': 0.001}]
>>> run_name({"architecture.filters": 8, "architecture.blocks": [2, 2]})
'filters8-blocks2x2'
"""

from __future__ import annotations

import copy
import csv
import itertools
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reefdask.config import load_config
from reefdask.train.config import SamplesConfig, SweepConfig, TrainConfig

__all__ = ["SweepResult", "expand_grid", "profile_resources", "run_name", "run_sweep"]


@dataclass
class SweepResult:
    """The comparison of a sweep's models, best first."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    table_csv: str = ""
    table_md: str = ""
    figure: str = ""


def expand_grid(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, as ``{dotted key: value}``."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))] or [
        {}
    ]


def run_name(point: dict[str, Any]) -> str:
    """A short folder-safe name for a grid point."""
    parts = []
    for key, value in point.items():
        v = "x".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(re.sub(r"[^A-Za-z0-9_.x-]", "", f"{key.rsplit('.', 1)[-1]}{v}"))
    return "-".join(parts) or "model"


def _set(d: dict[str, Any], dotted: str, value: Any) -> None:
    *head, last = dotted.split(".")
    for k in head:
        d = d.setdefault(k, {})
    d[last] = value


def _store(cfg: SweepConfig, client: Any) -> str:
    if cfg.samples.endswith((".yaml", ".yml")):
        from reefdask.train.samples import build_samples

        return build_samples(load_config(cfg.samples, SamplesConfig), client=client).store
    return cfg.samples


def profile_resources(profile: str) -> dict[str, float] | None:
    """Resources a training task needs on the workers of a cluster ``profile``.

    ``{"GPU": 1}`` when the profile's workers advertise GPUs (``slurm-gpu``, or a local
    profile with ``resources: {GPU: 1}``), else None. Read from the profile rather than
    from connected workers: an adaptive SLURM cluster has none before the first task.

    >>> profile_resources("slurm-gpu"), profile_resources("local")
    ({'GPU': 1}, None)
    """
    from reefdask.cluster import SlurmProfile, resolve_profile

    resolved = resolve_profile(profile)
    res = resolved.worker_resources() if isinstance(resolved, SlurmProfile) else dict(resolved.resources)
    return {"GPU": 1} if res.get("GPU") else None


_TRAIN_LOCK = threading.Lock()


def _train_one(tcfg: dict[str, Any]) -> dict[str, Any]:
    """Train one model (a cluster task): one fit at a time per process.

    Keras/TensorFlow state (graph names, global seeds, op determinism) is per process, so
    two fits sharing a worker's threads would disturb each other; the lock keeps them apart
    on multi-threaded workers without GPU resources. The scaler is fitted on this
    process's threads, not spread as sub-tasks over workers that are busy training.
    """
    import dask
    import keras

    from reefdask.train.fit import train

    with _TRAIN_LOCK, dask.config.set(scheduler="threads"):
        keras.backend.clear_session()
        r = train(TrainConfig.model_validate(tcfg))
    return {"metrics": r.metrics, "skipped": r.skipped, "model": r.model}


def _failure(err: BaseException) -> dict[str, Any]:
    return {"metrics": {}, "skipped": False, "model": "", "error": f"{type(err).__name__}: {err}"}


def _finished(tcfg: dict[str, Any]) -> dict[str, Any] | None:
    from reefdask.train.fit import finished_result

    r = finished_result(TrainConfig.model_validate(tcfg))
    return None if r is None else {"metrics": r.metrics, "skipped": True, "model": r.model}


def _train_on_client(
    client: Any, configs: list[dict[str, Any]], resources: dict[str, float] | None
) -> list[dict[str, Any]]:
    """One task per model (``train-<name>-<token>``), restricted to ``resources``; failures recorded."""
    from distributed import wait

    token = uuid.uuid4().hex[:8]
    futures = [
        client.submit(_train_one, c, key=f"train-{c['name']}-{token}", pure=False, resources=resources)
        for c in configs
    ]
    wait(futures)
    out = []
    for fut in futures:
        if fut.status == "finished":
            out.append(fut.result())
        else:  # "error" (raised, or its worker died too often: KilledWorker) or "cancelled"
            try:
                err = fut.exception()
            except Exception as cancelled:  # a cancelled future has no exception to give
                err = cancelled
            out.append(_failure(err))
        fut.release()
    return out


def run_sweep(
    cfg: SweepConfig, *, client: Any = None, resources: dict[str, float] | None = None
) -> SweepResult:
    """Build the samples once, train every grid point, and write the comparison.

    Parameters
    ----------
    cfg
        The sweep.
    client
        A Dask client: each model still to train becomes one task, trained in parallel
        across the workers. None: the models train one after another in this process.
    resources
        Worker resources each training task needs. None: ``{"GPU": 1}`` when the
        client's workers advertise GPUs (:func:`reefdask.model.loading.task_resources`),
        so that each GPU worker trains one model at a time.

    A model that fails is recorded (``error`` column, no metrics, ranked last) and the
    others go on; running the sweep again retries it (resuming from its last checkpoint)
    and skips the finished ones. With a client, ``outdir`` must be a folder the workers
    share with this process (SLURM: a shared filesystem).
    """
    store = _store(cfg, client)
    out = Path(cfg.outdir)
    out.mkdir(parents=True, exist_ok=True)
    points, configs = expand_grid(cfg.grid), []
    for point in points:
        d = copy.deepcopy(cfg.base)
        for k, v in point.items():
            _set(d, k, v)
        name = run_name(point)
        d.update(samples=store, outdir=str(out / name), name=name)
        configs.append(load_config(d, TrainConfig).model_dump(mode="json"))  # key-path errors before any fit
    results: list[dict[str, Any] | None] = [_finished(c) for c in configs]
    todo = [i for i, r in enumerate(results) if r is None]
    if client is None:
        for i in todo:
            try:
                results[i] = _train_one(configs[i])
            except Exception as err:  # recorded in the table; the sweep goes on
                results[i] = _failure(err)
    elif todo:
        if resources is None:
            from reefdask.model.loading import task_resources

            resources = task_resources(client)
        trained = _train_on_client(client, [configs[i] for i in todo], resources)
        for i, outcome in zip(todo, trained, strict=True):
            results[i] = outcome
    rows = []
    for point, c, r in zip(points, configs, results, strict=True):
        assert r is not None
        cols = dict.fromkeys((*_COLUMNS, cfg.metric))
        rows.append(
            {
                "name": c["name"],
                **point,
                **{k: r["metrics"].get(k) for k in cols},
                "skipped": r["skipped"],
                "model": r["model"],
                "error": r.get("error", ""),
            }
        )
    rows.sort(key=lambda row: -row[cfg.metric] if row[cfg.metric] is not None else float("inf"))
    return _write(out, rows, cfg.metric)


_COLUMNS = ("val_macro_f1", "val_macro_iou", "val_overall_accuracy", "val_loss", "reef_f1", "best_epoch")


def _write(out: Path, rows: list[dict[str, Any]], metric: str) -> SweepResult:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    csv_path, md_path, fig_path = out / "comparison.csv", out / "comparison.md", out / "ranking.png"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)

    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |" for r in rows]
    md_path.write_text(f"# Sweep comparison (ranked by {metric})\n\n" + "\n".join(lines) + "\n")
    from reefdask.reporting.figures import subplots

    fig, ax = subplots(figsize=(max(4, 0.6 * len(rows) + 2), 3.5))
    ax.bar([r["name"] for r in rows], [r.get(metric) or 0 for r in rows])
    ax.set_ylabel(metric)
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    ax.set_title(f"models ranked by {metric}")
    fig.savefig(fig_path, dpi=90, bbox_inches="tight")
    return SweepResult(rows, str(csv_path), str(md_path), str(fig_path))
