"""The wiring every ``python -m pipelines.<stage> CONFIG`` shares: argv, config, folder, exit code.

A stage module declares one function, ``run(config) -> Outcome``, that calls the library,
and ends with ``raise SystemExit(main("<stage>", run, __doc__))``. :func:`main` then:

1. parses ``CONFIG`` and ``--workdir``;
2. loads the YAML and validates it with the stage's model (:data:`pipelines.STAGES`), so a
   bad config is refused before any work, with one message naming each bad key;
3. runs the stage from the working folder: **relative paths in a config resolve against
   the config file's folder** (the current folder for a ``gs://`` config), or against
   ``--workdir DIR`` when given (created if absent);
4. prints the stage's summary and returns the exit code: 0 done, 1 the stage ran but
   something failed (the summary says what), 2 a user error (one ``error:`` line with the
   fix, no traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Outcome", "main", "load_stage_config", "working_folder", "interactive", "progress_bar"]


@dataclass
class Outcome:
    """What a stage reports: whether everything succeeded, a short summary, where outputs are."""

    ok: bool
    summary: str
    outputs: dict[str, Any] = field(default_factory=dict)


def interactive() -> bool:
    """Whether to draw progress bars (only on a terminal)."""
    return sys.stdout.isatty()


@contextlib.contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """A rich progress bar on a terminal (nothing elsewhere); yields ``update(completed, total=None)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not interactive()) as bar:
        task = bar.add_task(description, total=total)

        def update(completed: int, total: int | None = None) -> None:
            bar.update(task, completed=completed, total=total)  # total None: unchanged

        yield update


def load_stage_config(stage: str, path: str | Path) -> Any:
    """Load and validate ``path`` with the config model of ``stage`` (a ConfigError names bad keys)."""
    from pipelines import config_model
    from reefdask.config import load_config

    return load_config(str(path), config_model(stage))


@contextlib.contextmanager
def working_folder(path: Path) -> Iterator[Path]:
    """Run the body from ``path`` (relative config paths resolve there), then come back."""
    before = Path.cwd()
    path.mkdir(parents=True, exist_ok=True)
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(before)


def _parser(stage: str, doc: str | None) -> argparse.ArgumentParser:
    first = (doc or "").strip().splitlines()
    parser = argparse.ArgumentParser(
        prog=f"python -m pipelines.{'global_map' if stage == 'global' else stage}",
        description=(first[0] if first else f"Run the {stage} stage.")
        + " Relative paths in CONFIG resolve against CONFIG's folder, or --workdir when given.",
    )
    parser.add_argument("config", metavar="CONFIG", help=f"{stage} config YAML (see pipelines/configs/).")
    parser.add_argument(
        "--workdir",
        metavar="DIR",
        default=None,
        help="Folder that relative paths in CONFIG resolve against (default: CONFIG's folder).",
    )
    return parser


def main(
    stage: str,
    run: Callable[[Any], Outcome],
    doc: str | None = None,
    argv: Sequence[str] | None = None,
    *,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    prepare: Callable[[Any, argparse.Namespace], Any] | None = None,
) -> int:
    """Parse ``argv``, validate the config, run the stage from its folder; return the exit code.

    ``add_arguments`` adds stage options; ``prepare(config, args)`` may return an adjusted,
    re-validated config (``pipelines.full --fast``).
    """
    from reefdask.errors import ReefdaskError

    parser = _parser(stage, doc)
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    url = "://" in args.config  # a config in a bucket: relative paths resolve against the cwd
    config = args.config if url else Path(args.config).expanduser().resolve()
    try:
        cfg = load_stage_config(stage, config)
        if prepare is not None:
            cfg = prepare(cfg, args)
        folder = Path.cwd() if url else Path(config).parent
        base = Path(args.workdir).expanduser().resolve() if args.workdir else folder
        with working_folder(base):
            outcome = run(cfg)
    except ReefdaskError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(outcome.summary)
    if not outcome.ok:
        print(f"{stage}: finished with failures (see above)", file=sys.stderr)
    return 0 if outcome.ok else 1
