"""Global-map commands: ``global run``, ``global progress``, ``global export``.

``global run CONFIG --jobs N`` starts N independent job processes (each with its own
Dask cluster when ``--cluster PROFILE`` is given, e.g. a SLURM profile) that coordinate
only through the run store; any number more may be started later, on other machines.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import typer

from reefdask.cli.app import app

__all__ = ["global_app"]

global_app = typer.Typer(
    name="global",
    help="The global map: run jobs over a quad inventory, query progress, export COGs/VRT/STAC.",
    no_args_is_help=True,
)
app.add_typer(global_app, name="global")


def _job_command(config: str, cluster: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "reefdask.cli", "global", "run", config]
    return [*cmd, "--cluster", cluster] if cluster else cmd


@global_app.command("run")
def run_cmd(
    config: str = typer.Argument(..., help="Global run configuration (YAML)."),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Independent job processes to start."),
    cluster: str | None = typer.Option(
        None,
        "--cluster",
        help="Cluster profile (local, slurm-gpu, ...) giving each job its own Dask cluster.",
    ),
    max_quads: int | None = typer.Option(None, "--max-quads", help="Stop a job after this many quads."),
    plan_only: bool = typer.Option(False, "--print-command", help="Print the job command line and exit."),
) -> None:
    """Work on the run declared in CONFIG until every quad has a status."""
    from reefdask.config import load_config
    from reefdask.globalmap.config import GlobalConfig

    cfg = load_config(config, GlobalConfig)  # refuse a bad config before starting anything
    if plan_only:
        typer.echo(" ".join(_job_command(config, cluster)))
        return
    if jobs > 1:
        procs = [subprocess.Popen(_job_command(config, cluster), env=os.environ.copy()) for _ in range(jobs)]
        codes = [p.wait() for p in procs]
        typer.echo(f"{jobs} jobs finished with exit codes {codes}")
        if any(codes):
            raise typer.Exit(1)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from reefdask.globalmap.run import run_job

    columns = (TextColumn("quads with a status"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with contextlib.ExitStack() as stack:
        client = None
        if cluster is not None:
            from reefdask.cluster import open_cluster

            client = stack.enter_context(open_cluster(cluster))
        with Progress(*columns) as bar:
            task = bar.add_task("global", total=None)
            progress = lambda n, total: bar.update(task, completed=n, total=total)  # noqa: E731
            run_job(cfg, client=client, log=typer.echo, max_quads=max_quads, progress=progress)


@global_app.command("progress")
def progress_cmd(
    run: str = typer.Argument(..., help="Run store (folder or gs:// URL)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    map_png: str | None = typer.Option(
        None, "--map", help="Draw the quads coloured by status into this PNG."
    ),
) -> None:
    """Counts per status and region, rate and ETA, leases, failures: readable while jobs run."""
    from reefdask.globalmap.progress import draw_map, format_progress, progress

    p = progress(run)
    typer.echo(json.dumps(p, indent=1, default=str) if as_json else format_progress(p))
    if map_png:
        draw_map(p, map_png)
        if not as_json:
            typer.echo(f"map written to {map_png}")


@global_app.command("export")
def export_cmd(
    run: str = typer.Argument(..., help="Run store (folder or gs:// URL)."),
    to: str = typer.Option(..., "--to", help="Folder that receives the COGs, mosaic VRTs and STAC catalog."),
    block: int = typer.Option(1, "--block", min=1, help="Quads per side of each COG (1: one COG per quad)."),
) -> None:
    """Cloud-Optimized GeoTIFFs per quad or block, a VRT mosaic per product, a STAC catalog."""
    from reefdask.globalmap.export import export_run

    summary = export_run(run, to, block=block)
    typer.echo(json.dumps(summary, indent=1))
