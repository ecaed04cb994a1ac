"""Train a model from a sample store; a rerun resumes a killed fit or skips a finished one.

``python -m pipelines.train CONFIG`` (:class:`reefdask.train.config.TrainConfig`, example
``configs/train.yaml``); calls :func:`reefdask.train.fit.train`, as ``reefdask train`` does.
Writes ``<outdir>/<name>.keras``, its model card and an HTML report.
"""

from __future__ import annotations

from typing import Any

from pipelines._run import Outcome, main

__all__ = ["run"]


def run(cfg: Any) -> Outcome:
    """Train (or resume, or skip) the model of ``cfg``."""
    from reefdask.train.fit import train

    r = train(cfg)
    state = "done"
    if r.skipped or r.resumed_from:
        state = "already finished" if r.skipped else f"resumed from epoch {r.resumed_from}"
    lines = [f"train: {r.model} ({state}); card {r.card}"]
    keys = ("val_macro_f1", "reef_f1", "best_epoch")
    lines += [f"  {k}: {r.metrics[k]:.4g}" for k in keys if k in r.metrics]
    return Outcome(True, "\n".join(lines), {"model": r.model, "card": r.card, "skipped": r.skipped})


if __name__ == "__main__":
    raise SystemExit(main("train", run, __doc__))
