"""Calval commands: ``calval CONFIG`` (models x sites x baselines -> reports), ``compare REPORT_JSON...``."""

from __future__ import annotations

from pathlib import Path

import typer

from reefdask.cli.app import app

__all__: list[str] = []


@app.command("calval")
def calval(
    config: Path = typer.Argument(..., help="Calval YAML (see pipelines/configs/calval.yaml)."),
) -> None:
    """Evaluate models and baselines against a reference map, per site, and rank them."""
    from dask.diagnostics import ProgressBar

    from reefdask.calval.run import run_calval

    with ProgressBar(minimum=1):  # Dask's bar, for each evaluation that takes a while
        result = run_calval(config, echo=typer.echo)
    typer.echo(f"\nranking by area-weighted F1 (comparison: {result['comparison']['html']}):")
    for i, row in enumerate(result["ranking"], 1):
        f1 = row.get("weighted_f1")
        typer.echo(f"  {i}. {row['name']:<24} {row['role']:<9} {'n/a' if f1 is None else f'{f1:.4f}'}")


@app.command("compare")
def compare(
    reports: list[Path] = typer.Argument(..., help="report.json files written by `reefdask calval`."),
    out: Path = typer.Option(
        Path("comparison"), "--out", "-o", help="Folder for comparison.{html,md,json,png}."
    ),
    title: str = typer.Option("Model comparison", "--title", help="Title of the comparison report."),
) -> None:
    """Rank evaluations (models and baselines at the same sites) by area-weighted F1."""
    from reefdask.calval.report import compare_reports

    files = compare_reports(list(reports), out, title=title)
    typer.echo(f"wrote {files['html']}, {files['markdown']}, {files['json']} and {files['png']}")
