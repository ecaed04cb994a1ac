"""Training commands: ``samples``, ``train``, ``sweep`` (thin wiring over :mod:`reefdask.train`)."""

from __future__ import annotations

import typer

from reefdask.cli.app import app

__all__: list[str] = []


@app.command("samples")
def samples(
    config: str = typer.Argument(..., help="Samples config YAML (see pipelines/configs/samples.yaml)."),
) -> None:
    """Draw training windows from scenes into a Zarr sample store (a no-op when already built)."""
    from dask.diagnostics import ProgressBar

    from reefdask.config import load_config
    from reefdask.train.config import SamplesConfig
    from reefdask.train.samples import build_samples

    with ProgressBar(minimum=1):  # Dask's bar over the window statistics and the sample writes
        r = build_samples(load_config(config, SamplesConfig))
    if not r.built:
        typer.echo(f"{r.store}: already built with this configuration ({r.n_samples} samples); nothing to do")
        return
    typer.echo(f"{r.store}: {r.n_samples} samples from {r.candidates} candidates in {r.seconds:.1f} s")
    typer.echo(f"  per fold: {r.per_fold}")
    typer.echo(f"  per scene: {r.per_scene}")
    typer.echo(f"  rejected: {r.rejected}")


@app.command("train")
def train(
    config: str = typer.Argument(..., help="Train config YAML (see pipelines/configs/train.yaml)."),
) -> None:
    """Train a model from a sample store; rerun to resume a killed fit."""
    from reefdask.config import load_config
    from reefdask.train.config import TrainConfig
    from reefdask.train.fit import train as fit

    r = fit(load_config(config, TrainConfig))
    state = (
        "already finished"
        if r.skipped
        else f"resumed from epoch {r.resumed_from}"
        if r.resumed_from
        else "done"
    )
    typer.echo(f"{r.model} ({state}); card {r.card}")
    for k in ("val_macro_f1", "val_overall_accuracy", "reef_f1", "best_epoch"):
        if k in r.metrics:
            typer.echo(f"  {k}: {r.metrics[k]:.4g}")


@app.command("sweep")
def sweep(
    config: str = typer.Argument(..., help="Sweep config YAML (see pipelines/configs/sweep.yaml)."),
    cluster: str | None = typer.Option(
        None,
        "--cluster",
        help="Cluster profile (local, slurm-gpu, ...): one training task per model, one model per GPU "
        "worker. Default: the models train one after another in this process.",
    ),
) -> None:
    """Train a grid of models on shared samples, skipping finished ones, and compare them."""
    from reefdask.config import load_config
    from reefdask.train.config import SweepConfig
    from reefdask.train.sweep import profile_resources, run_sweep

    cfg = load_config(config, SweepConfig)
    if cluster is None:
        r = run_sweep(cfg)
    else:
        from reefdask.cluster import open_cluster

        with open_cluster(cluster, log_dir=cfg.outdir) as client:
            r = run_sweep(cfg, client=client, resources=profile_resources(cluster))
    failed = [row["name"] for row in r.rows if row.get("error")]
    typer.echo(f"{len(r.rows)} models; comparison in {r.table_csv} and {r.table_md}; ranking {r.figure}")
    if failed:
        typer.echo(f"{len(failed)} failed (see the error column): {', '.join(failed)}", err=True)
        raise typer.Exit(1)
