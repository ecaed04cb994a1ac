"""A global run's quads as units of work: the quad status names, and the one map to records.

Each quad of a run is a unit of the work layer (:mod:`reefdask.work`) under
``RUN/state/quads/``: its completion record ``<quad>.<status>[.<detail>].json`` (status in
the name: one listing gives every quad's status) and, while a job works it, its expiring
fenced claim ``_claims/<quad>``. People and the progress map keep the global map's own
names; this module is the one place that translates:

=================  ===========================  ============================================
quad status        work record                  meaning
=================  ===========================  ============================================
``done``           ``done``                     products written
``no_reef``        ``skipped.no_reef``          no reef pixel: only the record is written
``nodata``         ``skipped.nodata``           every input pixel was nodata
``out_of_domain``  ``skipped.out_of_domain``    outside the domain mask (no model ran)
``corrupt``        ``failed.permanent``         the source could not be read or decoded
``missing``        ``failed.missing``           the source vanished
``transient``      ``failed.transient``         the job's task failed (a worker died ...)
=================  ===========================  ============================================

Runs written before the work layer kept ``state/status/<quad>.<status>``; they are read
as they are (one more listing, see :func:`legacy_statuses`), not migrated: a run of
thousands of quads needs no rewrite, and a quad with both kinds of record takes the new one.

Examples
--------
>>> from reefdask.io.store import open_store
>>> store = open_store("memory://doc-quad-statuses")
>>> work = quad_work(store, owner="job-1")
>>> work.records.done("L15-0001E-0001N")
>>> _ = work.records.failed("L15-0002E-0001N", "permanent", "TIFFReadEncodedTile failed")
>>> read_statuses(store)
{'L15-0001E-0001N': 'done', 'L15-0002E-0001N': 'corrupt'}
>>> failure_reasons(store)["L15-0002E-0001N"]["error"]
'TIFFReadEncodedTile failed'
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from reefdask.errors import ConfigError
from reefdask.work import Claim, Listing, Work

if TYPE_CHECKING:
    from reefdask.globalmap.quad import QuadResult
    from reefdask.io.store import Store

__all__ = [
    "STATUSES",
    "FAILED",
    "QUADS",
    "JOBS",
    "LEGACY",
    "quad_work",
    "status_of",
    "read_statuses",
    "legacy_statuses",
    "failure_reasons",
    "record_result",
]

#: the quad statuses people see, in the order reports list them
STATUSES = ("done", "no_reef", "nodata", "out_of_domain", "corrupt", "missing", "transient")
#: the quad statuses that are failures (their reasons are read for reports)
FAILED = ("corrupt", "missing", "transient")
#: where the quads' records and claims live in the run store
QUADS = "state/quads"
#: where each job publishes its report
JOBS = "state/jobs"
#: where runs made before the work layer kept ``<quad>.<status>`` objects
LEGACY = "state/status"

#: quad status -> (record status, record detail): the ONE translation
_RECORD = {
    "done": ("done", ""),
    "no_reef": ("skipped", "no_reef"),
    "nodata": ("skipped", "nodata"),
    "out_of_domain": ("skipped", "out_of_domain"),
    "corrupt": ("failed", "permanent"),
    "missing": ("failed", "missing"),
    "transient": ("failed", "transient"),
}
_QUAD = {v: k for k, v in _RECORD.items()}


def quad_work(store: Store, *, owner: str | None = None, ttl: float = 300.0) -> Work:
    """The work layer's records and claims of a run's quads (``owner``: the job id)."""
    return Work(store, QUADS, owner=owner, ttl=ttl, **({"run": owner} if owner else {}))


def status_of(status: str, detail: str) -> str:
    """The quad status of a record's status and detail (``failed``/``permanent`` -> ``corrupt``)."""
    return _QUAD[(status, detail or "")]


def read_statuses(store: Store, listing: Listing | None = None) -> dict[str, str]:
    """Every quad with a record -> its quad status: one listing (two for a pre-work-layer run)."""
    listing = quad_work(store).records.scan() if listing is None else listing
    out = legacy_statuses(store)
    out.update({q: status_of(e.status, e.detail) for q, e in listing.items()})
    return dict(sorted(out.items()))


def legacy_statuses(store: Store) -> dict[str, str]:
    """``{quad: status}`` of a run written before the work layer (``state/status/<quad>.<status>``)."""
    out = {}
    for key in store.list(f"{LEGACY}/"):
        quad, _, status = key[len(LEGACY) + 1 :].rpartition(".")
        if status in _RECORD and quad and "/" not in quad:
            out[quad] = status
    return out


def failure_reasons(store: Store, listing: Listing | None = None) -> dict[str, dict[str, Any]]:
    """``{quad: {"status", "error", "job", "attempts"}}`` of the failed quads (one read each)."""
    work = quad_work(store)
    listing = work.records.scan() if listing is None else listing
    out: dict[str, dict[str, Any]] = {}
    for quad, status in legacy_statuses(store).items():
        if status in FAILED and quad not in listing:
            body = json.loads(store.read(f"{LEGACY}/{quad}.{status}"))
            out[quad] = {"status": status, "error": body.get("error"), "job": body.get("job"), "attempts": 1}
    for quad, rec in work.records.failures(listing).items():
        out[quad] = {"status": status_of(rec.status, rec.detail), "error": rec.reason, "job": rec.owner,
                     "attempts": len(rec.attempts)}  # fmt: skip
    return dict(sorted(out.items()))


def record_result(work: Work, claim: Claim, result: QuadResult, listing: Listing | None = None) -> str:
    """Record a quad's outcome through its claim (fenced); returns the record status written.

    Raises :class:`~reefdask.work.ClaimLostError`, recording nothing, when the claim was
    taken over.
    """
    if result.status not in _RECORD:
        raise ConfigError(f"Unknown quad status {result.status!r}; use one of {', '.join(STATUSES)}.")
    status, detail = _RECORD[result.status]
    entry = listing.get(result.quad) if listing is not None else None
    older = entry.names if entry is not None else ()
    info = {"seconds": result.seconds, "computed": result.computed}
    if status == "done":
        work.records.done(result.quad, info=info, claim=claim, replaces=older)
    elif status == "skipped":
        work.records.skipped(result.quad, detail, info=info, claim=claim, replaces=older)
    else:
        work.records.failed(result.quad, detail, result.error or result.status, info=info, claim=claim)
    return status
