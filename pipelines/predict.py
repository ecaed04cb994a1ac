"""Apply a model to imagery chunk by chunk into a resumable Zarr store (its ledger records each chunk).

``python -m pipelines.predict CONFIG`` (:class:`reefdask.predict.config.PredictConfig`, example
``configs/predict.yaml``); calls :func:`reefdask.predict.plan_prediction` and
:func:`reefdask.predict.execute`, as ``reefdask predict`` does. A rerun computes only the
chunks the ledger does not have. Exits 1 when a chunk failed.
"""

from __future__ import annotations

from typing import Any

from pipelines._run import Outcome, main, progress_bar

__all__ = ["run"]


def run(cfg: Any) -> Outcome:
    """Plan and execute the prediction of ``cfg``."""
    from reefdask.predict import execute, plan_prediction

    plan = plan_prediction(cfg.imagery, cfg.model, cfg.out, **cfg.plan_options())
    print(plan.describe(), flush=True)
    finished = iter(range(1, len(plan.todo) + 1))
    with progress_bar(f"predict {plan.scene}", len(plan.todo)) as update:
        summary = execute(plan, progress=lambda _chunk: update(next(finished)))
    return Outcome(summary.ok, f"predict: {summary}", summary.to_dict())


if __name__ == "__main__":
    raise SystemExit(main("predict", run, __doc__))
