"""``reefdask demo``: the pipeline on the embedded default, end to end.

LocalCluster, local disk, SYNTHETIC scenes (never real data). Each step is one call
into the library; the demo only wires them, times them and reports where their
outputs are. Steps: synthesize quads into a local "bucket" folder, ingest them into
a Zarr cube, and summarise what was made.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    """Where the demo put things, and what each step reported."""

    out: Path
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboard: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (also written to ``<out>/demo.json``)."""
        return {"out": str(self.out), "dashboard": self.dashboard, "steps": self.steps}


def run_demo(
    out: str | Path = "demo-output",
    *,
    quads: int = 4,
    size: int = 512,
    seed: int = 0,
    fast: bool = False,
    cluster: str = "local",
    echo: Callable[[str], None] = print,
) -> DemoResult:
    """Run every demo step into ``out`` and return what each produced.

    ``fast`` shrinks the scenes (for CI). Rerunning reuses finished work.
    """
    from reefdask.cluster import open_cluster

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if fast:
        size = min(size, 256)
    result = DemoResult(out)
    with open_cluster(cluster, log_dir=out / "logs", quiet=True) as client:
        result.dashboard = client.dashboard_link
        echo(f"dashboard: {client.dashboard_link}")
        _step(result, "synth", echo, lambda: _synth(out, quads, size, seed))
        _step(result, "ingest", echo, lambda: _ingest(out, size, client))
    (out / "demo.json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    return result


def _step(
    result: DemoResult, name: str, echo: Callable[[str], None], fn: Callable[[], dict[str, Any]]
) -> None:
    t0 = time.perf_counter()
    echo(f"[{name}] ...")
    info = fn()
    info["seconds"] = round(time.perf_counter() - t0, 2)
    result.steps[name] = info
    echo(f"[{name}] {info.get('summary', '')} ({info['seconds']} s)")


def _synth(out: Path, quads: int, size: int, seed: int) -> dict[str, Any]:
    from reefdask.synthetic import synth_quads

    made = synth_quads(out / "bucket", quads=quads, size=size, seed=seed)
    return {
        "summary": f"{len(made)} SYNTHETIC quads of {size} px under {out / 'bucket'}",
        "imagery": [m.image for m in made],
        "labels": [m.label for m in made],
        "quads": [m.quad.id for m in made],
    }


def _ingest(out: Path, size: int, client: Any) -> dict[str, Any]:
    from reefdask.cube import ingest

    store = out / "cube.zarr"
    report = ingest(str(out / "bucket" / "imagery"), str(store), chunk=min(512, size), client=client)
    if not report.ok:
        raise RuntimeError(report.summary())
    return {"summary": report.summary().splitlines()[0], "store": str(store), **report.to_dict()}
