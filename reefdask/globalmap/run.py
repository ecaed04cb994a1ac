"""The job loop of a global run: plan, claim a batch of quads, map them, record each, repeat.

Any number of jobs may run :func:`run_job` on one run at once (processes, SLURM jobs,
machines): they coordinate only through the run store, with the work layer's parts
(:mod:`reefdask.work`; the quads' records and claims, :mod:`.statuses`). Each round a job

1. **plans** from one listing of the quad records (quads without a record, and failures
   of a class in ``config.retry``), starting at a job-specific place in the inventory so
   that jobs rarely contend;
2. **claims** a batch of them (expiring claims; a quad another job finished after the
   listing is given back at once) and keeps the claims renewed while it works;
3. **maps** each quad (in this process, or on the ``client``'s cluster); the fence runs
   right before the quad's products are written;
4. **records** each quad's status through its claim, which proves it is still held: a job
   whose claim was taken over (it stalled past the claim's expiry) records nothing and
   lists the quad in :attr:`JobReport.lost`.

A crashed job's claims expire and are taken over (at once by a job on the same host,
which sees the process is gone). One bad quad never stops a job; a job tries a quad at
most once; a run whose quads all have a record does nothing and says so. Jobs of
reefdask versions before the work layer (``state/leases``) must not share a run with
these jobs; their statuses (``state/status``) are read as finished.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from reefdask.globalmap.config import GlobalConfig
from reefdask.globalmap.plan import RunPlan, open_run
from reefdask.globalmap.quad import QuadResult, process_quad
from reefdask.globalmap.statuses import FAILED, JOBS, legacy_statuses, quad_work, record_result
from reefdask.work import Claim, ClaimLostError, Listing, Work, keep

__all__ = ["JobReport", "new_job_id", "run_job"]

#: seconds between two publications of a working job's report (progress reads its rate)
REPORT_EVERY = 30.0


@dataclass
class JobReport:
    """What one job did: quads it computed, their statuses, time spent on coordination."""

    job: str
    run: str
    nothing_to_do: bool = False
    statuses: dict[str, str] = field(default_factory=dict)
    computed: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    seconds: float = 0.0
    compute_seconds: float = 0.0
    coordination_seconds: float = 0.0
    #: wall-clock times (seconds since the epoch): start, last report, and whether it ended
    started: float = field(default_factory=time.time)
    updated: float = 0.0
    finished: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)

    def __str__(self) -> str:
        if self.nothing_to_do:
            return f"{self.run}: every quad already has a status; nothing to do."
        counts: dict[str, int] = {}
        for s in self.statuses.values():
            counts[s] = counts.get(s, 0) + 1
        parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
        lost = f"; {len(self.lost)} lost to other jobs" if self.lost else ""
        return (
            f"job {self.job}: {len(self.statuses)} quads ({parts}) in {self.seconds:.1f} s; "
            f"coordination {self.coordination_seconds:.2f} s{lost}"
        )


def new_job_id() -> str:
    """``host-pid-random``: unique per job, readable in progress reports."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def run_job(
    config: GlobalConfig,
    *,
    job_id: str | None = None,
    client: Any = None,
    log: Callable[[str], None] = print,
    max_quads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> JobReport:
    """Work on a global run until every quad has a status (or ``max_quads`` were done).

    ``client`` (a ``distributed.Client``) maps the quads of each batch on its cluster;
    without one they are mapped in this process. ``progress(n, total)`` is called with the
    number of the run's quads that have a status (by any job) whenever it grows.
    """
    t_start = time.perf_counter()
    job = job_id or new_job_id()
    plan = open_run(config)
    store = plan.store
    work = quad_work(store, owner=job, ttl=config.lease_seconds)
    report = JobReport(job, plan.url)
    t0 = time.perf_counter()
    store.remove_stale("state/")
    old = legacy_statuses(store)  # a run begun before the work layer: those quads are finished
    order = _rotated(sorted(q for q in plan.tasks if q not in old), job)
    coord = time.perf_counter() - t0
    first = True
    tried: set[str] = set()
    seen: set[str] = {q for q in old if q in plan.tasks}
    last_report = time.monotonic()

    def tell(quads: Any) -> None:
        if progress is not None and not seen.issuperset(quads):
            seen.update(quads)
            progress(len(seen), len(plan.tasks))

    while max_quads is None or len(report.statuses) < max_quads:
        t0 = time.perf_counter()
        planned = work.plan(order, retry=config.retry)
        tell([q for q in planned.listing if q in plan.tasks])
        todo = [q for q in planned.pending if q not in tried]
        if not todo:
            report.nothing_to_do = first
            coord += time.perf_counter() - t0
            break
        first = False
        batch: list[Claim] = []
        for q in todo:
            claim = work.claim(q)
            if isinstance(claim, Claim):
                batch.append(claim)
                if len(batch) >= config.batch:
                    break
        coord += time.perf_counter() - t0
        if not batch:
            if not config.wait:
                break
            time.sleep(min(1.0, config.lease_seconds / 3))  # others hold the rest: wait for them
            continue
        tried.update(c.unit for c in batch)
        coord += _work(plan, work, batch, planned.listing, report, client, log, tell)
        if time.monotonic() - last_report > REPORT_EVERY:
            _publish(store, report, t_start, coord)
            last_report = time.monotonic()
    report.finished = True
    if report.nothing_to_do:
        report.seconds, report.coordination_seconds = time.perf_counter() - t_start, coord
    else:
        _publish(store, report, t_start, coord)
    log(str(report))
    return report


def _publish(store: Any, report: JobReport, t_start: float, coord: float) -> None:
    """Publish the job's report (``state/jobs/<job>.json``): progress reads rates from these."""
    report.seconds, report.coordination_seconds = time.perf_counter() - t_start, coord
    report.updated = time.time()
    store.publish(f"{JOBS}/{report.job}.json", json.dumps(report.to_dict()).encode())


def _work(
    plan: RunPlan,
    work: Work,
    batch: list[Claim],
    listing: Listing,
    report: JobReport,
    client: Any,
    log: Callable[[str], None],
    tell: Callable[[list[str]], None],
) -> float:
    """Map the quads of ``batch`` (claims held, renewed meanwhile); the seconds spent coordinating."""
    coord = 0.0
    claims = {c.unit: c for c in batch}

    def record(q: str, res: QuadResult | BaseException) -> None:
        nonlocal coord
        t1 = time.perf_counter()
        claim, status = claims[q], "failed"
        try:
            if isinstance(res, BaseException):
                raise res
            status = record_result(work, claim, res, listing)
        except ClaimLostError:  # taken over by another job: it records the quad, this job nothing
            report.lost.append(q)
            return
        finally:
            work.finish(claim, status)
            coord += time.perf_counter() - t1
        report.statuses[q] = res.status
        tell([q])
        report.compute_seconds += res.seconds
        if res.computed:
            report.computed.append(q)
        if res.status in FAILED:
            log(f"{q}: {res.status}: {res.error}")

    with keep(batch):
        if client is None:
            for q, claim in claims.items():
                try:
                    res: QuadResult | BaseException = process_quad(plan.tasks[q], plan.spec, claim.check)
                except ClaimLostError as err:
                    res = err
                record(q, res)
            return coord
        from distributed import as_completed

        futures = {}
        for q, claim in claims.items():  # the fence travels: the worker checks it before writing
            key = f"globalmap-{q}-{uuid.uuid4().hex[:6]}"
            futures[client.submit(process_quad, plan.tasks[q], plan.spec, claim.fence(), key=key)] = q
        for fut in as_completed(list(futures)):
            q = futures[fut]
            try:
                res = fut.result()
            except ClaimLostError as err:
                res = err
            except Exception as err:  # e.g. the worker died on this quad: keep the reason, go on
                res = QuadResult(q, "transient", f"task failed on the cluster: {type(err).__name__}: {err}")
            record(q, res)
    return coord


def _rotated(quads: list[str], job: str) -> list[str]:
    """The inventory order started at a place that depends on the job (less contention)."""
    if not quads:
        return quads
    k = zlib.crc32(job.encode()) % len(quads)
    return quads[k:] + quads[:k]
