"""The job loop of a global run: claim a batch of quads, map each, record its status, repeat.

Any number of jobs may run :func:`run_job` on one run at once (processes, SLURM jobs,
machines): they coordinate only through the store. Each round a job lists the statuses
(one listing) and the live leases, leases a batch of quads nobody holds (starting at a
job-specific place in the inventory, so jobs rarely contend), keeps the leases renewed
while it works, re-checks each quad's status after leasing it (another job may have
finished it meanwhile), maps it, records its status and only then releases the lease.
A crashed job's leases expire and are taken over. One bad quad never stops a job, and a
run whose quads all have a status does nothing and says so.
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
from reefdask.globalmap.leases import LeaseKeeper, Leases, open_versioned_store
from reefdask.globalmap.plan import RunPlan, open_run
from reefdask.globalmap.quad import QuadResult, process_quad
from reefdask.globalmap.state import StatusStore
from reefdask.io.storage import join, write_bytes_atomic

__all__ = ["JobReport", "new_job_id", "run_job", "state_urls"]


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
        return (
            f"job {self.job}: {len(self.statuses)} quads ({parts}) in {self.seconds:.1f} s; "
            f"coordination {self.coordination_seconds:.2f} s"
        )


def new_job_id() -> str:
    """``host-pid-random``: unique per job, readable in progress reports."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def state_urls(run: str) -> dict[str, str]:
    """Where a run keeps its statuses, leases and job reports."""
    return {k: join(run, "state", k) for k in ("status", "leases", "jobs")}


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
    urls = state_urls(plan.url)
    opts = plan.storage_options or None
    status = StatusStore(urls["status"], opts)
    leases = Leases(open_versioned_store(urls["leases"], opts), job, ttl=config.lease_seconds)
    report = JobReport(job, plan.url)
    order = _rotated(sorted(plan.tasks), job)
    coord = 0.0
    first = True
    seen: set[str] = set()

    def tell(quads: Any) -> None:
        if progress is not None and not seen.issuperset(quads):
            seen.update(quads)
            progress(len(seen), len(plan.tasks))

    with LeaseKeeper(leases) as keeper:
        while max_quads is None or len(report.statuses) < max_quads:
            t0 = time.perf_counter()
            done = status.listing()
            tell(done)
            todo = [q for q in order if q not in done]
            if not todo:
                report.nothing_to_do = first
                coord += time.perf_counter() - t0
                break
            first = False
            busy = {h["key"] for h in leases.held() if h["live"]}
            batch = []
            for q in todo:
                if q in busy:
                    continue
                lease = leases.acquire(q)
                if lease is not None:
                    keeper.add(lease)
                    batch.append(q)
                    if len(batch) >= config.batch:
                        break
            coord += time.perf_counter() - t0
            if not batch:
                if not config.wait:
                    break
                time.sleep(min(1.0, config.lease_seconds / 3))  # others hold the rest: wait for them
                continue
            coord += _work(plan, batch, status, keeper, report, client, log, tell)
        report.lost = sorted(keeper.lost)
    report.seconds = time.perf_counter() - t_start
    report.coordination_seconds = coord
    if report.nothing_to_do:
        log(str(report))
    else:
        write_bytes_atomic(join(urls["jobs"], f"{job}.json"), json.dumps(report.to_dict()).encode(), opts)
        log(str(report))
    return report


def _work(
    plan: RunPlan,
    batch: list[str],
    status: StatusStore,
    keeper: LeaseKeeper,
    report: JobReport,
    client: Any,
    log: Callable[[str], None],
    tell: Callable[[list[str]], None] = lambda quads: None,
) -> float:
    """Map the quads of ``batch``; returns the seconds spent on coordination."""
    coord = 0.0
    t0 = time.perf_counter()
    todo = []
    for q in batch:
        if status.status_of(q) is not None:  # finished by another job since our listing
            keeper.release(q, finished=True)
        else:
            todo.append(q)
    coord += time.perf_counter() - t0

    def record(res: QuadResult) -> None:
        nonlocal coord
        t1 = time.perf_counter()
        status.record(res.quad, res.status, job=report.job, seconds=res.seconds, error=res.error)
        keeper.release(res.quad, finished=True)
        coord += time.perf_counter() - t1
        report.statuses[res.quad] = res.status
        tell([res.quad])
        report.compute_seconds += res.seconds
        if res.computed:
            report.computed.append(res.quad)
        if res.status in ("corrupt", "missing"):
            log(f"{res.quad}: {res.status}: {res.error}")

    if client is None:
        for q in todo:
            record(process_quad(plan.tasks[q], plan.spec))
        return coord
    from distributed import as_completed

    futures = {
        client.submit(process_quad, plan.tasks[q], plan.spec, key=f"globalmap-{q}-{uuid.uuid4().hex[:6]}"): q
        for q in todo
    }
    for fut in as_completed(list(futures)):
        try:
            res = fut.result()
        except Exception as err:  # e.g. the worker died on this quad: keep the reason, go on
            res = QuadResult(
                futures[fut], "corrupt", f"task failed on the cluster: {type(err).__name__}: {err}"
            )
        record(res)
    return coord


def _rotated(quads: list[str], job: str) -> list[str]:
    """The inventory order started at a place that depends on the job (less contention)."""
    if not quads:
        return quads
    k = zlib.crc32(job.encode()) % len(quads)
    return quads[k:] + quads[:k]
