"""Acquisition and cleaning commands: ``inventory``, ``acquire``, ``clean``.

Thin wiring: parse, call :mod:`reefdask.acquire` / :mod:`reefdask.clean`, report. Each
command ends with a short account, or one JSON document with ``--json``; the exit code
is 1 when any file failed.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from reefdask.cli.app import app

__all__: list[str] = []


def _emit(as_json: bool, data: dict, text: str) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
    else:
        typer.echo(text)


@app.command()
def inventory(
    url: str = typer.Argument(..., help="Prefix holding <region>/L15-XXXXE-YYYYN.tif (local, gs://, ...)."),
    out: str | None = typer.Option(None, "--out", help="Write the inventory here (.parquet or .csv)."),
    pattern: str = typer.Option("**/*.tif", help="Glob of imagery files under URL."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """List the quads under a prefix: locations, regions and existing neighbours."""
    from reefdask.acquire import build_inventory

    inv = build_inventory(url, pattern=pattern)
    if out:
        inv.write(out)
    s = inv.summary()
    text = (
        f"inventory: {s['quads']} quads in {s['files']} files, {s['quads_in_several_regions']} in several "
        f"regions, regions {s['regions']}, {s['ignored_files']} files not named like quads"
        + (f"\nwritten to {out} (+ .summary.json)" if out else "")
    )
    _emit(as_json, {**s, "out": out}, text)


@app.command()
def acquire(
    manifest: Path = typer.Argument(..., help="Manifest YAML (see pipelines/configs/acquire.yaml)."),
    as_json: bool = typer.Option(False, "--json", help="Print the account as JSON (no progress bar)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Copy what is missing or changed from a manifest's sources, verified, in parallel."""
    from reefdask.acquire import acquire as run_acquire
    from reefdask.acquire import load_manifest

    report = run_acquire(load_manifest(manifest), progress=progress and not as_json)
    _emit(as_json, report.to_dict(), report.summary())
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def clean(
    config: Path = typer.Argument(..., help="Clean config YAML (see pipelines/configs/clean.yaml)."),
    as_json: bool = typer.Option(False, "--json", help="Print the account as JSON (no progress bar)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Clean imagery and labels: alpha -> nodata, resampling, rasterization, boundaries, edges."""
    from reefdask.clean import load_clean_config, run_clean

    report = run_clean(load_clean_config(config), progress=progress and not as_json)
    _emit(as_json, report.to_dict(), report.summary())
    if not report.ok:
        raise typer.Exit(1)
