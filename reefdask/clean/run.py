"""``reefdask clean``: each step parallel over scenes, idempotent, safe for concurrent runs.

Every scene task follows one protocol (:func:`reefdask.clean.protocol.produce`): skip an
output whose tag matches, else claim it, write beside it and rename it into place. So a
killed run leaves no half-written output, a rerun does only what is missing, and two runs
started at once make each output exactly once. One bad scene is recorded with its reason
and the run goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reefdask.acquire.atomic import WORK_DIR
from reefdask.clean.config import CleanConfig
from reefdask.clean.protocol import TAG, SceneOutcome, produce
from reefdask.clean.steps import STEPS
from reefdask.io.store_local import LocalStore

__all__ = ["SceneOutcome", "CleanReport", "produce", "run_clean", "TAG"]


@dataclass
class CleanReport:
    """The account of a clean run, per step."""

    outcomes: list[SceneOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no scene failed."""
        return not any(o.status == "failed" for o in self.outcomes)

    def counts(self) -> dict[str, dict[str, int]]:
        """``{step: {status: n}}``."""
        out: dict[str, dict[str, int]] = {}
        for o in self.outcomes:
            out.setdefault(o.step, {}).setdefault(o.status, 0)
            out[o.step][o.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly account (``reefdask clean --json``)."""
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "steps": self.counts(),
            "scenes": [o.__dict__ for o in self.outcomes],
        }

    def summary(self) -> str:
        """A short human account."""
        lines = [f"clean: {self.seconds:.1f} s"]
        for step, counts in self.counts().items():
            lines.append(f"  {step}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        lines += [f"  failed {o.step} {o.scene}: {o.reason}" for o in self.outcomes if o.status == "failed"]
        return "\n".join(lines)


def run_clean(cfg: CleanConfig, *, progress: bool = True) -> CleanReport:
    """Run the configured steps in order, each parallel over its scenes."""
    import dask
    from dask.callbacks import Callback
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    t0 = time.perf_counter()
    report = CleanReport()
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   disable=not progress)  # fmt: skip
    with bar:
        for name, plan in STEPS:
            if getattr(cfg, name) is None:
                continue
            _remove_stale_records(getattr(cfg, name).output)
            jobs = plan(cfg)  # list of (scene, zero-argument callable) -> SceneOutcome
            task_id = bar.add_task(name, total=len(jobs))

            class _Advance(Callback):
                def _posttask(
                    self, key: Any, result: Any, dsk: Any, state: Any, id: Any, _t: Any = task_id
                ) -> None:
                    if isinstance(result, SceneOutcome):
                        bar.advance(_t, 1)

            tasks = [
                dask.delayed(fn, pure=False)(dask_key_name=f"clean-{name}-{scene}") for scene, fn in jobs
            ]
            if tasks:
                with _Advance():
                    report.outcomes += dask.compute(*tasks, scheduler="threads", num_workers=cfg.workers)
    report.seconds = time.perf_counter() - t0
    return report


def _remove_stale_records(output: str) -> None:
    """Temporaries of records that a killed run left in ``<output>/_work`` (once per step, one listing)."""
    if Path(output).is_dir():
        LocalStore(output).remove_stale(f"{WORK_DIR}/")
