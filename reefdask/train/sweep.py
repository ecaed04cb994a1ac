"""Sweeps: a grid of models over shared samples, trained, validated, compared.

The samples are built once (a samples config is built, or confirmed unchanged, before any
model; a store URL is used as it is). Each grid point becomes one
:class:`~reefdask.train.config.TrainConfig` (``base`` merged with the point's dotted keys)
trained into ``outdir/<name>``: finished models are skipped, killed ones resume. Without a
Dask client the models train one after another in this process; with one (a LocalCluster,
or SLURM GPU workers with one GPU each) each model is one task named ``train-<name>``.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reefdask.config import load_config
from reefdask.train.config import SamplesConfig, SweepConfig, TrainConfig

__all__ = ["SweepResult", "expand_grid", "run_name", "run_sweep"]


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


def _train_one(tcfg: dict[str, Any]) -> dict[str, Any]:
    import keras

    from reefdask.train.fit import train

    keras.backend.clear_session()
    r = train(TrainConfig.model_validate(tcfg))
    return {"metrics": r.metrics, "skipped": r.skipped, "model": r.model}


def run_sweep(cfg: SweepConfig, *, client: Any = None) -> SweepResult:
    """Build the samples once, train every grid point, and write the comparison."""
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
    if client is None:
        results = [_train_one(c) for c in configs]
    else:
        futures = [client.submit(_train_one, c, key=f"train-{c['name']}", pure=False) for c in configs]
        results = client.gather(futures)
    rows = []
    for point, c, r in zip(points, configs, results, strict=True):
        cols = dict.fromkeys((*_COLUMNS, cfg.metric))
        rows.append(
            {
                "name": c["name"],
                **point,
                **{k: r["metrics"].get(k) for k in cols},
                "skipped": r["skipped"],
                "model": r["model"],
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
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(rows) + 2), 3.5))
    ax.bar([r["name"] for r in rows], [r.get(metric) or 0 for r in rows])
    ax.set_ylabel(metric)
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    ax.set_title(f"models ranked by {metric}")
    fig.savefig(fig_path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return SweepResult(rows, str(csv_path), str(md_path), str(fig_path))
