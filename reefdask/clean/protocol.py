"""The protocol every clean scene task follows (:func:`produce`), and its completion tag.

1. an existing output whose ``REEFDASK_CLEAN`` tag equals this step's configuration hash
   is valid: skip it;
2. otherwise take an expiring claim on the output (:class:`~reefdask.acquire.atomic.Claim`);
   while another live run holds it, wait, then skip the output that run made;
3. write to a temporary file beside the output and rename it into place.

So a killed run leaves no half-written output, a rerun does only what is missing, and
two runs started at once make each output exactly once. One bad scene is recorded
with its reason and the run goes on. The steps (:mod:`reefdask.clean.steps`) declare their
jobs with it; :func:`reefdask.clean.run.run_clean` runs them.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reefdask.acquire.atomic import Claim, part_path, publish, remove_stale_parts
from reefdask.clean.config import CleanConfig
from reefdask.config import config_hash

__all__ = ["TAG", "SceneOutcome", "output_is_valid", "produce", "step_hash"]

TAG = "REEFDASK_CLEAN"


@dataclass
class SceneOutcome:
    """One scene of one step: ``made``, ``skipped``, ``dropped``, ``empty`` or ``failed``."""

    step: str
    scene: str
    status: str
    reason: str = ""
    output: str = ""


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
