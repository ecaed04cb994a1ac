"""The ``reefdask`` Typer app, on which each command module registers its commands."""

from __future__ import annotations

import typer

from reefdask import __version__

__all__ = ["app"]

app = typer.Typer(
    name="reefdask",
    help="Map coral reefs from satellite imagery with Dask: synth, ingest, predict, calval, clusters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"reefdask {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Map coral reefs from satellite imagery with Dask."""
