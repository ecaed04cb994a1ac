"""``reefdask ingest``: rasters into a Zarr v3 cube with a progress bar (wiring over ``cube.ingest``)."""

from __future__ import annotations

import json

import typer

from reefdask.cli.app import app

__all__ = ["ingest_command"]


@app.command("ingest")
def ingest_command(
    sources: list[str] = typer.Argument(
        ..., help="Raster files (GeoTIFF/COG/VRT), folders or glob patterns; local paths or fsspec URLs."
    ),
    store: str = typer.Option(..., "--store", help="Zarr store path or URL (created when absent)."),
    chunk: int = typer.Option(1024, "--chunk", min=1, help="Chunk size in pixels along y and x."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Rewrite scenes that are already complete."),
    compression: str = typer.Option("zstd", "--compression", help="zstd, deflate or none."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Ingest rasters into a Zarr cube, one group per scene; complete scenes are skipped.

    Exits with status 1 when a source could not be ingested (the others still are).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from reefdask.cube.ingestion import ingest

    columns = (TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=as_json) as bar:
        task = bar.add_task("ingest", total=None)

        def _tick(scene: str | None, total: int) -> None:
            bar.update(task, total=total, advance=0 if scene is None else 1)

        report = ingest(
            sources, store, chunk=chunk, overwrite=overwrite, compression=compression, progress=_tick
        )
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.summary())
    if report.failed:
        raise typer.Exit(1)
