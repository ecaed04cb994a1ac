"""``reefdask demo``: the pipeline on the embedded default, end to end.

LocalCluster, local disk, SYNTHETIC scenes (never real data). Each step is one call
into the library (:mod:`reefdask.demo.steps`, laid out by :mod:`reefdask.demo.plan`);
the demo only wires them, times them and reports where their outputs are. Steps:
synthesize quads (one reef-free in open water, plus one corrupt neighbour) into a local
"bucket" folder, list them into a quad inventory, acquire verified copies (the corrupt
one is refused), clean them (alpha -> nodata, labels onto each quad's grid), ingest
them into a Zarr cube, draw training samples, train a small
U-Net, predict the two held-out quads, score them at calval, run a global run over the
inventory, report its progress, export COGs and a STAC catalog, and write ``index.html``
linking everything. Rerunning reuses finished work (samples, model, predictions, global run).
"""

from __future__ import annotations

import html
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DemoResult", "run_demo", "write_index"]


@dataclass
class DemoResult:
    """Where the demo put things, and what each step reported."""

    out: Path
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboard: str | None = None
    index: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (also written to ``<out>/demo.json``)."""
        d = {"out": str(self.out), "dashboard": self.dashboard, "index": str(self.index)}
        return {**d, "steps": self.steps}


def run_demo(
    out: str | Path = "demo-output",
    *,
    quads: int = 16,
    size: int = 512,
    seed: int = 0,
    fast: bool = False,
    cluster: str = "local",
    echo: Callable[[str], None] = print,
) -> DemoResult:
    """Run every demo step into ``out`` and return what each produced.

    ``fast`` shrinks the scenes and the training (for CI). Rerunning reuses finished work.
    """
    from reefdask.cluster import open_cluster
    from reefdask.demo import steps as s
    from reefdask.demo.plan import check_settings, plan_demo

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    p = plan_demo(out, quads=quads, size=min(size, 256) if fast else size, seed=seed, fast=fast)
    check_settings(p)
    result = DemoResult(out)
    t0, c0 = time.perf_counter(), time.process_time()
    with open_cluster(cluster, log_dir=out / "logs", quiet=True) as client:
        result.dashboard = client.dashboard_link
        echo(f"dashboard: {client.dashboard_link}")
        step = _stepper(result, echo)
        step("synth", lambda: s.synth(p))
        step("inventory", lambda: s.inventory(p))
        step("acquire", lambda: s.acquire(p, client))
        step("clean", lambda: s.clean(p))
        step("ingest", lambda: s.ingest(p, client))
        step("samples", lambda: s.samples(p, client))
        step("train", lambda: s.train(p))
        step("predict", lambda: s.predict(p, client))
        step("calval", lambda: s.calval(p, result.steps["predict"]["stores"]))
        step("global", lambda: s.global_run(p, client))
        step("progress", lambda: s.progress(p))
        step("export", lambda: s.export(p))
    echo(result.steps["progress"]["text"])
    result.index = write_index(result)
    result.steps["total"] = {
        "seconds": round(time.perf_counter() - t0, 1),
        "main_process_cpu_seconds": round(time.process_time() - c0, 1),
    }
    (out / "demo.json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    return result


def _stepper(result: DemoResult, echo: Callable[[str], None]) -> Callable[[str, Callable[[], dict]], None]:
    def step(name: str, fn: Callable[[], dict[str, Any]]) -> None:
        t0 = time.perf_counter()
        echo(f"[{name}] ...")
        info = fn()
        info["seconds"] = round(time.perf_counter() - t0, 2)
        result.steps[name] = info
        echo(f"[{name}] {info.get('summary', '')} ({info['seconds']} s)")

    return step


def _link(out: Path, path: str | Path, text: str | None = None) -> str:
    rel = os.path.relpath(Path(path), out)
    return f'<a href="{html.escape(rel)}">{html.escape(text or rel)}</a>'


def write_index(result: DemoResult) -> Path:
    """Write ``<out>/index.html``: the main reports and maps, then every step's summary and figures."""
    out, st = result.out, result.steps
    main = [
        ("Model report (training curves, confusion, samples)", st["train"]["report"]),
        *((f"Calval report, held-out quad {q}", r) for q, r in st["calval"]["reports"].items()),
        ("Global run progress map (status of every quad)", st["progress"]["map"]),
        *(("Global reef heat map (exported mosaic)", f) for f in st["export"].get("figures", [])),
        ("STAC collection of the exported COGs", st["export"]["stac"]),
        *((f"VRT mosaic: {k}", v) for k, v in st["export"]["vrt"].items()),
        ("Model card (JSON)", st["train"]["card"]),
        ("Demo summary (JSON)", out / "demo.json"),
    ]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>reefdask demo</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}img{max-width:480px;margin:4px}</style>",
        "</head><body><h1>reefdask demo (SYNTHETIC data)</h1>",
        f"<p>Dask dashboard while it ran: {html.escape(str(result.dashboard))}</p><ul>",
        *(f"<li>{_link(out, path, text)}</li>" for text, path in main),
        "</ul>",
    ]
    for name, info in st.items():
        parts.append(f"<h2>{html.escape(name)}</h2><p>{html.escape(str(info.get('summary', '')))}</p>")
        if name == "progress":
            parts.append(f"<pre>{html.escape(info['text'])}</pre>")
        for fig in info.get("figures", []):
            rel = html.escape(os.path.relpath(fig, out))
            parts.append(f'<a href="{rel}"><img src="{rel}" alt="{rel}"></a>')
    parts.append("</body></html>")
    index = out / "index.html"
    index.write_text("\n".join(parts))
    return index
