"""Keep a dask-jobqueue cluster's SLURM jobs going, on the cluster's event loop.

Two gaps of dask-jobqueue 0.9 / distributed 2026.8 that :func:`reefdask.cluster.open_cluster`
closes with a :class:`JobKeeper` (see ``cluster/local-slurm/README.md`` for what was measured):

- a **fixed-size** cluster (``cluster.scale(jobs=n)``) never replaces a job that ended
  (worker ``--lifetime`` reached, ``scancel``, node failure): the keeper calls
  ``scale(jobs=n)`` again whenever fewer jobs are requested than planned (adaptive clusters
  do this themselves);
- a job that **ends before its worker ever connects** (a broken prologue, a wrong Python
  path) stays "requested" for ever, so neither adapt nor scale replaces it and the run waits
  with no workers. The keeper notices it (the job is gone from ``squeue``), logs the job's
  stderr file, forgets the job so a replacement is submitted, and after ``max_failed_starts``
  such jobs stops submitting altogether (no job storm on a shared cluster) and says why.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any

__all__ = ["JobKeeper"]

logger = logging.getLogger("reefdask.cluster")


class JobKeeper:
    """Replace ended jobs of a fixed-size cluster; detect and cap jobs that die before starting.

    Parameters
    ----------
    cluster
        A running ``dask_jobqueue.SLURMCluster``.
    jobs
        Jobs to keep (fixed-size cluster), or None when the cluster is adaptive.
    interval
        Seconds between checks.
    max_failed_starts
        Give up submitting after this many jobs ended before their worker connected.
    log_file
        The run's ``cluster.log``: failures are appended there too.
    """

    def __init__(
        self,
        cluster: Any,
        jobs: int | None,
        *,
        interval: float = 2.0,
        max_failed_starts: int = 3,
        log_file: str | Path | None = None,
    ) -> None:
        from tornado.ioloop import PeriodicCallback

        self.cluster = cluster
        self.jobs = jobs
        self.max_failed_starts = max_failed_starts
        self.log_file = Path(log_file) if log_file is not None else None
        self.failed_starts = 0
        self.gave_up = False
        self._connected: set[str] = set()
        self._callback = PeriodicCallback(self._check, interval * 1000)

    def start(self) -> None:
        """Start checking on the cluster's event loop."""
        self.cluster.loop.add_callback(self._callback.start)

    def stop(self) -> None:
        """Stop checking."""
        self.cluster.loop.add_callback(self._callback.stop)

    async def _check(self) -> None:
        from distributed.core import Status

        c = self.cluster
        if c.status != Status.running or self.gave_up:
            return
        try:
            await self._forget_failed_starts()
        except OSError as err:  # squeue missing or failing: try again next time
            logger.debug("reefdask JobKeeper: squeue failed: %s", err)
        if self.gave_up:
            return
        if self.jobs is not None and (len(c.requested) < len(c.plan) or len(c.worker_spec) < self.jobs):
            c.scale(jobs=self.jobs)

    async def _forget_failed_starts(self) -> None:
        c = self.cluster
        self._connected.update(str(w.get("name")) for w in c.scheduler_info.get("workers", {}).values())
        waiting = {
            name: job
            for name, job in list(c.workers.items())
            if getattr(job, "job_id", None)
            and not any(s == str(name) or s.startswith(f"{name}-") for s in self._connected)
        }
        if not waiting:
            return
        live = await _live_job_ids()
        if live is None:
            return
        for name, job in waiting.items():
            if job.job_id in live:
                continue
            if c.workers.pop(name, None) is None:  # its spec stays planned: adapt/scale replace it
                continue
            self.failed_starts += 1
            err = Path(job.log_directory or ".") / f"{job.job_name}-{job.job_id}.err"
            self._report(
                logging.WARNING,
                f"SLURM job {job.job_id} ended before its dask worker connected "
                f"({self.failed_starts}/{self.max_failed_starts}); see {err}",
            )
        if self.failed_starts >= self.max_failed_starts:
            self.gave_up = True
            adaptive = getattr(c, "_adaptive", None)
            if adaptive is not None:
                adaptive.stop()
            c.scale(0)
            self._report(
                logging.ERROR,
                f"{self.failed_starts} SLURM jobs ended before their worker connected: no more jobs are "
                "submitted. Fix the profile (prologue, python, partition) from the job logs and rerun; "
                "the ledger keeps the work already done.",
            )

    def _report(self, level: int, message: str) -> None:
        logger.log(level, message)
        if self.log_file is not None:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_file, "a") as f:
                f.write(f"{stamp} {logging.getLevelName(level)} {message}\n")


async def _live_job_ids() -> set[str] | None:
    """Ids of the jobs ``squeue`` still shows (pending, running, completing); None if it failed."""
    proc = await asyncio.create_subprocess_exec(
        "squeue", "-h", "-o", "%i", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        return None
    return set(out.decode().split())
