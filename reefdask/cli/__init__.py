"""The ``reefdask`` command line: thin wiring over the library.

Each command group lives in its own module and imports the library inside the
command, so ``reefdask --help`` is fast and never imports TensorFlow.
"""

from __future__ import annotations

import typer

from reefdask.cli.app import app

# isort: split
# command groups register themselves on `app` when imported, in pipeline order (the --help order)
from reefdask.cli import core, acquire, ingest, train, predict, calval, globalmap, cluster  # noqa: F401, I001


def main() -> None:
    """Entry point of the ``reefdask`` script: user errors print a one-line remedy, not a traceback."""
    from reefdask.errors import ReefdaskError

    try:
        app()
    except ReefdaskError as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None


__all__ = ["app", "main"]
