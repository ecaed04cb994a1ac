"""Ingest rasters into a Zarr v3 cube, one group per scene; complete scenes are skipped.

``python -m pipelines.ingest CONFIG`` (:class:`reefdask.config.IngestConfig`, example
``configs/ingest.yaml``); calls :func:`reefdask.cube.ingest`, as ``reefdask ingest`` does.
Exits 1 when a source could not be ingested (the others still are).
"""

from __future__ import annotations

from typing import Any

from pipelines._run import Outcome, main

__all__ = ["run"]


def run(cfg: Any) -> Outcome:
    """Ingest the sources of ``cfg`` into its store."""
    from reefdask.cube import ingest

    report = ingest(cfg.sources, cfg.store, chunk=cfg.chunk, overwrite=cfg.overwrite)
    return Outcome(not report.failed, report.summary(), {"store": cfg.store, **report.to_dict()})


if __name__ == "__main__":
    raise SystemExit(main("ingest", run, __doc__))
