"""Clean imagery and labels: alpha -> nodata, resampling, rasterized labels, boundaries, edges.

``python -m pipelines.clean CONFIG`` (:class:`reefdask.clean.CleanConfig`, example
``configs/clean.yaml``); calls :func:`reefdask.clean.run_clean`, as ``reefdask clean`` does.
Outputs up to date with the config are skipped. Exits 1 when a scene failed.
"""

from __future__ import annotations

from typing import Any

from pipelines._run import Outcome, interactive, main

__all__ = ["run"]


def run(cfg: Any) -> Outcome:
    """Run the configured clean steps."""
    from reefdask.clean import run_clean

    report = run_clean(cfg, progress=interactive())
    return Outcome(report.ok, report.summary(), {"steps": report.counts()})


if __name__ == "__main__":
    raise SystemExit(main("clean", run, __doc__))
