"""``reefdask clean``: each step parallel over scenes, idempotent, safe for concurrent runs.

Every scene task follows one protocol (:func:`produce`):

1. an existing output whose ``REEFDASK_CLEAN`` tag equals this step's configuration hash
   is valid: skip it;
2. otherwise take an expiring claim on the output (:class:`~reefdask.acquire.atomic.Claim`);
   while another live run holds it, wait, then skip the output that run made;
3. write to a temporary file beside the output and rename it into place.

So a killed run leaves no half-written output, a rerun does only what is missing, and
two runs started at once make each output exactly once. One bad scene is recorded
with its reason and the run goes on.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reefdask.acquire.atomic import Claim, part_path, publish, remove_stale_parts
from reefdask.clean.config import CleanConfig
from reefdask.config import config_hash

__all__ = ["SceneOutcome", "CleanReport", "produce", "run_clean"]

TAG = "REEFDASK_CLEAN"


@dataclass
class SceneOutcome:
    """One scene of one step: ``made``, ``skipped``, ``dropped``, ``empty`` or ``failed``."""

    step: str
    scene: str
    status: str
    reason: str = ""
    output: str = ""


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


def output_is_valid(path: Path, expect: str) -> bool:
    """Whether ``path`` is a readable raster made with configuration hash ``expect``."""
    if not path.is_file():
        return False
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as ds:
            return ds.tags().get(TAG) == expect
    except RasterioError:
        return False


def produce(
    step: str, scene: str, output: Path, expect: str, make: Callable[[Path], tuple[str, str]], ttl: float
) -> SceneOutcome:
    """Run ``make(part) -> (status, reason)`` under the skip / claim / atomic-rename protocol."""
    if output_is_valid(output, expect):
        return SceneOutcome(step, scene, "skipped", "up to date", str(output))
    output.parent.mkdir(parents=True, exist_ok=True)
    claim = Claim(output, ttl=ttl)
    try:
        while not claim.acquire():
            time.sleep(0.1)
            if output_is_valid(output, expect):
                return SceneOutcome(step, scene, "skipped", "made by a concurrent run", str(output))
        if output_is_valid(output, expect):
            return SceneOutcome(step, scene, "skipped", "made by a concurrent run", str(output))
        remove_stale_parts(output)
        part = part_path(output)
        try:
            status, reason = make(part)
            if status == "made":
                publish(part, output)
            return SceneOutcome(step, scene, status, reason, str(output) if status == "made" else "")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
    except Exception as err:  # one bad scene never stops a run
        return SceneOutcome(step, scene, "failed", f"{type(err).__name__}: {err}"[:500])
    finally:
        claim.release()


def step_hash(cfg: CleanConfig, step: str, extra: Any = None) -> str:
    """Hash of what determines a step's outputs (its config, resampling, schema...)."""
    part = getattr(cfg, step)
    return config_hash({"step": step, "config": part.model_dump(mode="json"), "resampling": cfg.resampling,
                        "extra": extra})  # fmt: skip


def run_clean(cfg: CleanConfig, *, progress: bool = True) -> CleanReport:
    """Run the configured steps in order, each parallel over its scenes."""
    import dask
    from dask.callbacks import Callback
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from reefdask.clean.steps import STEPS

    t0 = time.perf_counter()
    report = CleanReport()
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   disable=not progress)  # fmt: skip
    with bar:
        for name, plan in STEPS:
            if getattr(cfg, name) is None:
                continue
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
