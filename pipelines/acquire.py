"""Copy what is missing or changed from a manifest's sources, verified, resumable.

``python -m pipelines.acquire CONFIG`` (:class:`reefdask.acquire.manifest.Manifest`, example
``configs/acquire.yaml``); calls :func:`reefdask.acquire.acquire`, as ``reefdask acquire`` does.
Exits 1 when a file could not be copied (a corrupt raster is one).
"""

from __future__ import annotations

from typing import Any

from pipelines._run import Outcome, interactive, main

__all__ = ["run"]


def run(cfg: Any) -> Outcome:
    """Acquire every source of the manifest ``cfg``."""
    from reefdask.acquire import acquire

    report = acquire(cfg, progress=interactive())
    return Outcome(report.ok, report.summary(), {"destination": cfg.destination, **report.to_dict()})


if __name__ == "__main__":
    raise SystemExit(main("acquire", run, __doc__))
