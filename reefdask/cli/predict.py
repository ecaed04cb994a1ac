"""Inference commands: ``predict`` (with a progress bar) and ``status`` (offline, from the ledger)."""

from __future__ import annotations

import contextlib
import json

import typer

from reefdask.cli.app import app

__all__ = ["predict_cmd", "status_cmd"]


def _bands(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(b) for b in text.split(",")]
    except ValueError:
        from reefdask.errors import ConfigError

        raise ConfigError(f"--bands {text!r} must be comma-separated band numbers, like 1,2,3.") from None


@app.command("predict")
def predict_cmd(
    model: str = typer.Option(..., "--model", help="Saved .keras model (its .card.json is read if present)."),
    imagery: str = typer.Option(..., "--imagery", help="Imagery URL or path (GeoTIFF, COG, VRT, Zarr)."),
    out: str = typer.Option(..., "--out", help="Output Zarr store: path, gs://, memory:// ..."),
    chunk: int = typer.Option(1024, "--chunk", help="Chunk size in pixels."),
    halo: int | None = typer.Option(None, "--halo", help="Halo in pixels (default: from the model)."),
    strategy: str = typer.Option("auto", "--strategy", help="auto, tiles or windows."),
    window_mode: str = typer.Option("centre", "--window-mode", help="windows: centre or blend."),
    window: int | None = typer.Option(None, "--window", help="Window size for the windows strategy."),
    bands: str | None = typer.Option(None, "--bands", help="Comma-separated bands (overrides the card)."),
    dtype: str = typer.Option("uint8", "--dtype", help="uint8 (percent, 255 nodata) or float32 (NaN)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an output made by another model."),
    plan_only: bool = typer.Option(False, "--plan", help="Print the plan and exit without computing."),
    cluster: str | None = typer.Option(
        None, "--cluster", help="Cluster profile (local, slurm-gpu, ...) to run the chunks on."
    ),
) -> None:
    """Apply MODEL to IMAGERY chunk by chunk into OUT; a rerun resumes where it stopped.

    With ``--cluster PROFILE`` the chunks run on that Dask cluster (``reefdask cluster
    list`` shows the profiles); else on threads in this process.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from reefdask.predict import execute, plan_prediction

    plan = plan_prediction(
        imagery,
        model,
        out,
        chunk=chunk,
        halo=halo,
        strategy=strategy,
        output_dtype=dtype,
        overwrite=overwrite,
        window=window,
        window_mode=window_mode,
        bands=_bands(bands),
    )
    typer.echo(plan.describe())
    if plan_only:
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with contextlib.ExitStack() as stack:
        client = None
        if cluster is not None and plan.todo:  # nothing left to do: no cluster to start
            from reefdask.cluster import open_cluster

            client = stack.enter_context(open_cluster(cluster))
        bar = stack.enter_context(Progress(*columns, transient=False))
        task = bar.add_task(f"predict {plan.scene}", total=len(plan.todo))
        summary = execute(plan, client=client, progress=lambda res: bar.advance(task))
    typer.echo(str(summary))
    if not summary.ok:
        raise typer.Exit(1)


@app.command("status")
def status_cmd(
    out: str = typer.Argument(..., help="Output Zarr store of a prediction."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Summarise a prediction's ledger: counts per status, failed chunks and why, fingerprint."""
    from reefdask.predict import prediction_status

    st = prediction_status(out)
    if as_json:
        typer.echo(json.dumps(st, indent=2))
        return
    c = st["counts"]
    typer.echo(
        f"{st['store']}  scene {st['scene']}  model fingerprint {st['fingerprint']}  "
        f"config {st['config_hash']}"
    )
    typer.echo(
        f"  {c['done']} done, {c['skipped']} skipped, {c['failed']} failed, {c['pending']} pending "
        f"of {st['total']} chunks"
    )
    for key, why in st["failures"].items():
        typer.echo(f"  failed {key}: {why}")
