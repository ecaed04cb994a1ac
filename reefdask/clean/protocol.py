"""The protocol every clean scene task follows (:func:`produce`), and its completion record.

Each output is a unit of :mod:`reefdask.work`, its records and claims in ``_work/`` beside
it (``<folder>/_work/<name>.done.json``, ``..._claims/<name>``):

1. an output recorded done with this step's hash (configuration + inputs, in the
   record's ``info["tag"]``), whose file has the recorded size and mtime, is valid: skip
   it; so is a scene recorded skipped (``dropped``/``empty``) with the same hash;
2. otherwise take an expiring claim on the output (:class:`~reefdask.acquire.atomic.Claim`,
   renewed while the scene is made); while another live run holds it, wait, then skip
   the output that run made;
3. write to a temporary file beside the output, prove the claim is still held, rename it
   into place and record it done through the claim. A failure is recorded with its class
   and reason (``<name>.failed.<class>.json``) and the run goes on.

So a killed run leaves no half-written output, a rerun does only what is missing, and
two runs started at once make each output exactly once. Outputs of older runs, which
carry only the ``REEFDASK_CLEAN`` GeoTIFF tag (still written, as provenance), are valid
when the tag matches. The steps (:mod:`reefdask.clean.steps`) declare their
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

from reefdask.acquire.atomic import WORK_DIR, Claim, part_path, publish, remove_stale_parts
from reefdask.clean.config import CleanConfig
from reefdask.config import config_hash
from reefdask.io.store_local import LocalStore
from reefdask.work import Records, classify
from reefdask.work.records import record_name

__all__ = ["TAG", "SceneOutcome", "output_is_valid", "produce", "step_hash"]

TAG = "REEFDASK_CLEAN"
#: clean statuses recorded as skipped, with the work layer's reason
_SKIPPED = {"dropped": "no_reef", "empty": "nodata"}


@dataclass
class SceneOutcome:
    """One scene of one step: ``made``, ``skipped``, ``dropped``, ``empty`` or ``failed``."""

    step: str
    scene: str
    status: str
    reason: str = ""
    output: str = ""


def _records(output: Path) -> Records:
    return Records(LocalStore(output.parent), WORK_DIR)


def recorded(output: Path, expect: str) -> str | None:
    """The status recorded for ``output`` with hash ``expect`` (``made``, ``dropped``, ``empty``), or None."""
    records = _records(output)
    done = records.read(record_name(output.name, "done"))
    if done is not None and done.info.get("tag") == expect:
        try:
            st = output.stat()
        except OSError:
            return None
        same = (done.info.get("size"), done.info.get("mtime_ns")) == (st.st_size, st.st_mtime_ns)
        return "made" if same else None
    for status, reason in _SKIPPED.items():
        rec = records.read(record_name(output.name, "skipped", reason))
        if rec is not None and rec.info.get("tag") == expect:
            return status
    return None


def output_is_valid(path: Path, expect: str) -> bool:
    """Whether ``path`` is recorded done with hash ``expect`` (or, made before records, tagged with it)."""
    if recorded(path, expect) == "made":
        return True
    if not path.is_file():
        return False
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as ds:
            return ds.tags().get(TAG) == expect
    except RasterioError:
        return False


def _finished(step: str, scene: str, output: Path, expect: str, why: str) -> SceneOutcome | None:
    if output_is_valid(output, expect):
        return SceneOutcome(step, scene, "skipped", why, str(output))
    status = recorded(output, expect)
    if status is not None:
        return SceneOutcome(step, scene, "skipped", f"{why} ({status})")
    return None


def produce(
    step: str, scene: str, output: Path, expect: str, make: Callable[[Path], tuple[str, str]], ttl: float
) -> SceneOutcome:
    """Run ``make(part) -> (status, reason)`` under the skip / claim / atomic-rename / record protocol."""
    done = _finished(step, scene, output, expect, "up to date")
    if done is not None:
        return done
    output.parent.mkdir(parents=True, exist_ok=True)
    claim = Claim(output, ttl=ttl)
    records = _records(output)
    try:
        while not claim.acquire():
            time.sleep(0.1)
            done = _finished(step, scene, output, expect, "made by a concurrent run")
            if done is not None:
                return done
        done = _finished(step, scene, output, expect, "made by a concurrent run")
        if done is not None:
            return done
        assert claim.claim is not None
        remove_stale_parts(output)
        part = part_path(output)
        try:
            with claim.claim.keep():
                status, reason = make(part)
            info = {"tag": expect, "reason": reason}
            if status == "made":
                claim.check()  # fencing: publish only while the claim is ours
                publish(part, output)
                st = output.stat()
                records.done(output.name, info={**info, "size": st.st_size, "mtime_ns": st.st_mtime_ns},
                             claim=claim.claim, replaces=_older(output))  # fmt: skip
            elif status in _SKIPPED:
                records.skipped(output.name, _SKIPPED[status], info=info, claim=claim.claim,
                                replaces=_older(output))  # fmt: skip
            return SceneOutcome(step, scene, status, reason, str(output) if status == "made" else "")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
    except Exception as err:  # one bad scene never stops a run
        reason = f"{type(err).__name__}: {err}"[:500]
        if claim.held:
            with contextlib.suppress(Exception):
                records.failed(output.name, classify(err) or "permanent", reason, claim=claim.claim)
        return SceneOutcome(step, scene, "failed", reason)
    finally:
        claim.release()


def _older(output: Path) -> list[str]:
    """Names of every record ``output`` may have (removed once a newer one is written)."""
    names = [record_name(output.name, "done")]
    names += [record_name(output.name, "skipped", r) for r in _SKIPPED.values()]
    return names + [record_name(output.name, "failed", c) for c in ("permanent", "missing", "transient")]


def step_hash(cfg: CleanConfig, step: str, extra: Any = None) -> str:
    """Hash of what determines a step's outputs (its config, resampling, schema...)."""
    part = getattr(cfg, step)
    return config_hash({"step": step, "config": part.model_dump(mode="json"), "resampling": cfg.resampling,
                        "extra": extra})  # fmt: skip
