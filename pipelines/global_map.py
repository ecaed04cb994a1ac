"""Work on a global run until every quad of its inventory has a status, then report progress.

``python -m pipelines.global_map CONFIG`` (the module is ``global_map`` because ``global`` is a
Python keyword; :class:`reefdask.globalmap.config.GlobalConfig`, example ``configs/global.yaml``);
calls :func:`reefdask.globalmap.run.run_job` and :func:`reefdask.globalmap.progress.progress`,
as ``reefdask global run`` and ``reefdask global progress`` do. Quads that already have a status
are skipped; any number of these jobs may work on one run at once.
"""

from __future__ import annotations

from typing import Any

from pipelines._run import Outcome, main, progress_bar

__all__ = ["run"]


def run(cfg: Any) -> Outcome:
    """One job on the run of ``cfg``; the summary is the run's progress."""
    from reefdask.globalmap.progress import format_progress, progress
    from reefdask.globalmap.run import run_job

    with progress_bar(f"global run {cfg.run}") as update:
        report = run_job(cfg, log=print, progress=update)  # prints its own account of the job
    prog = progress(cfg.run, cfg.storage_options or None)
    outputs = {"run": cfg.run, "counts": prog["counts"], "computed": report.computed}
    return Outcome(True, format_progress(prog), outputs)


if __name__ == "__main__":
    raise SystemExit(main("global", run, __doc__))
