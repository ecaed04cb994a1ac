"""Train a grid of models on shared samples, skipping finished ones, and compare them.

``python -m pipelines.sweep CONFIG`` (:class:`reefdask.train.config.SweepConfig`, example
``configs/sweep.yaml``); calls :func:`reefdask.train.sweep.run_sweep`, as ``reefdask sweep`` does.
Not part of ``pipelines.full``: a sweep chooses the model that the chain's ``train`` then fits.
"""

from __future__ import annotations

from typing import Any

from pipelines._run import Outcome, main

__all__ = ["run"]


def run(cfg: Any) -> Outcome:
    """Run the sweep of ``cfg``."""
    from reefdask.train.sweep import run_sweep

    r = run_sweep(cfg)
    text = f"sweep: {len(r.rows)} models; comparison in {r.table_csv} and {r.table_md}; ranking {r.figure}"
    return Outcome(True, text, {"table": str(r.table_csv)})


if __name__ == "__main__":
    raise SystemExit(main("sweep", run, __doc__))
