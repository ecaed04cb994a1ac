"""Write SYNTHETIC reef quads (imagery + labels) into a folder laid out like a provider's bucket.

``python -m pipelines.synth CONFIG`` (:class:`reefdask.config.SynthConfig`, example
``configs/synth.yaml``); calls :func:`reefdask.synthetic.synth_quads`. A rerun finds the quads
already written and leaves them alone (their bytes would be the same; their times would not).
"""

from __future__ import annotations

from typing import Any

from pipelines._run import Outcome, main

__all__ = ["run"]


def run(cfg: Any) -> Outcome:
    """Write the quads of ``cfg`` unless every one of them is already there."""
    from pathlib import Path

    from reefdask.io.storage import is_local, strip_protocol
    from reefdask.synthetic import default_quads, synth_quads

    quads = default_quads(cfg.quads, cfg.origin)
    root = Path(strip_protocol(cfg.outdir))
    files = [root / kind / cfg.region / f"{q.id}.tif" for q in quads for kind in ("imagery", "labels")]
    if is_local(cfg.outdir) and all(f.is_file() for f in files):
        text = f"synth: {len(quads)} quads already in {cfg.outdir} (reused)"
        return Outcome(True, text, {"outdir": cfg.outdir, "quads": [q.id for q in quads]})
    made = synth_quads(cfg.outdir, quads=quads, seed=cfg.seed, size=cfg.size, region=cfg.region)
    return Outcome(
        True,
        f"synth: wrote {len(made)} SYNTHETIC quads ({cfg.size} px, seed {cfg.seed}) under {cfg.outdir}",
        {"outdir": cfg.outdir, "quads": [m.quad.id for m in made]},
    )


if __name__ == "__main__":
    raise SystemExit(main("synth", run, __doc__))
