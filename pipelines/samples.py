"""Draw training windows from scenes into a Zarr sample store (a no-op when already built).

``python -m pipelines.samples CONFIG`` (:class:`reefdask.train.config.SamplesConfig`, example
``configs/samples.yaml``); calls :func:`reefdask.train.samples.build_samples`, as
``reefdask samples`` does.
"""

from __future__ import annotations

from typing import Any

from pipelines._run import Outcome, main

__all__ = ["run"]


def run(cfg: Any) -> Outcome:
    """Build (or find already built) the sample store of ``cfg``."""
    from reefdask.train.samples import build_samples

    r = build_samples(cfg)
    if not r.built:
        text = f"samples: {r.store} already built with this configuration ({r.n_samples} samples)"
    else:
        text = (
            f"samples: {r.store}: {r.n_samples} samples from {r.candidates} candidates in {r.seconds:.1f} s\n"
            f"  per fold: {r.per_fold}\n  per scene: {r.per_scene}\n  rejected: {r.rejected}"
        )
    return Outcome(True, text, {"store": r.store, "n_samples": r.n_samples, "built": r.built})


if __name__ == "__main__":
    raise SystemExit(main("samples", run, __doc__))
