"""The life of a stage's units: plan, claim, do, record; resume and retry for free.

:class:`Work` joins a stage's :class:`~reefdask.work.records.Records` and
:class:`~reefdask.work.claims.Claims` under one prefix of its output store, and
:meth:`Work.run` is the whole loop most stages need::

    work = Work(store, "_work", owner=job_id)
    report = work.run(units, do_one, retry=("transient",))

For each unit that is pending (no record, or a failure whose class is in ``retry``):
claim it (skip it while another worker holds it), check it was not finished meanwhile by
another worker (so a unit is done once even when plans overlap), run ``do_one(unit)``
with the claim renewed in the background, and record the outcome *through the claim*
(fenced: a claim lost to a takeover records nothing). ``do_one`` returns ``None`` or a
dict of facts for ``done``, or :class:`Skip` for ``skipped``; an exception is recorded as
a failure of the class :func:`classify` gives, and one it cannot classify (a bug)
propagates after the claim is released. A rerun resumes: done and skipped units are
skipped by the plan listing. Stale temporaries under the prefix are removed first.

Stages whose units run inside one Dask graph (cube ingest) use the same parts
directly: :meth:`Work.plan`, :meth:`Work.claim`, :func:`~reefdask.work.claims.keep`,
:meth:`Work.record`.

Examples
--------
>>> from reefdask.io.store import open_store
>>> work = Work(open_store("memory://doc-runner"), "_work")
>>> def do_one(unit):
...     if unit == "c":
...         return Skip("nodata")
...     if unit == "d":
...         raise ConnectionError("reset by peer")
...     return {"pixels": 4}
>>> report = work.run(["a", "b", "c", "d"], do_one)
>>> report.done, report.skipped, report.failed
(['a', 'b'], ['c'], {'d': 'transient: ConnectionError: reset by peer'})
>>> work.run(["a", "b", "c", "d"], lambda u: None).done    # resume: only the failure is redone
['d']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reefdask.errors import ReefdaskError
from reefdask.work.claims import Claim, ClaimLostError, Claims
from reefdask.work.records import DEFAULT_RETRY, RUN_ID, SKIP_REASONS, Listing, Records

if TYPE_CHECKING:
    from reefdask.io.store import Store

__all__ = ["Skip", "Plan", "RunReport", "Work", "classify"]


@dataclass(frozen=True)
class Skip:
    """What ``do_one`` returns for a unit with nothing to compute (``reason`` in SKIP_REASONS)."""

    reason: str
    info: Mapping[str, Any] = field(default_factory=dict)


def classify(exc: BaseException) -> str | None:
    """The failure class of an exception, or None for a bug (which should stop the run).

    A vanished input is ``missing``; an error the user can cause (bad data, a bad raster)
    is ``permanent``; I/O, network and lost claims are ``transient``.
    """
    if isinstance(exc, FileNotFoundError):
        return "missing"
    if isinstance(exc, ClaimLostError | TimeoutError | ConnectionError):
        return "transient"
    if isinstance(exc, ReefdaskError):
        return "permanent" if not isinstance(exc, OSError) else "transient"
    if isinstance(exc, OSError):
        return "transient"
    return None


@dataclass
class Plan:
    """The units to do now, and the listing they were chosen from."""

    units: list[str]
    pending: list[str]
    listing: Listing

    @property
    def finished(self) -> list[str]:
        """Units already done or skipped (a rerun skips them)."""
        return [u for u in self.units if u in self.listing and self.listing[u].finished]


@dataclass
class RunReport:
    """What :meth:`Work.run` did, unit by unit."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: ``{unit: "<class>: <reason>"}``
    failed: dict[str, str] = field(default_factory=dict)
    #: finished before this run (by the plan listing, or by another worker meanwhile)
    already: list[str] = field(default_factory=list)
    #: claimed by another live worker, left to it
    held: list[str] = field(default_factory=list)
    #: not retried: failed earlier with a class outside ``retry``
    final: list[str] = field(default_factory=list)
    #: claim lost to a takeover while working: nothing recorded
    lost: list[str] = field(default_factory=list)


class Work:
    """Records and claims of one stage's units under ``prefix`` of ``store``."""

    def __init__(self, store: Store, prefix: str = "_work", *, owner: str | None = None, ttl: float = 600.0,
                 run: str = RUN_ID, skip_reasons: Iterable[str] = SKIP_REASONS) -> None:  # fmt: skip
        self.store = store
        self.prefix = prefix.strip("/")
        self.claims = Claims(store, self.prefix, owner=owner, ttl=ttl)
        self.records = Records(
            store, self.prefix, run=run, owner=self.claims.owner, skip_reasons=skip_reasons
        )

    def plan(self, units: Iterable[str], *, retry: Iterable[str] = DEFAULT_RETRY,
             overwrite: bool = False) -> Plan:  # fmt: skip
        """One listing: which of ``units`` to do (all of them with ``overwrite``)."""
        units = list(dict.fromkeys(units))
        listing = self.records.scan()
        pending = list(units) if overwrite else listing.pending(units, retry)
        return Plan(units, pending, listing)

    def claim(self, unit: str, *, overwrite: bool = False) -> Claim | str:
        """Claim ``unit``: the :class:`Claim`, or why not (``"held"`` or ``"already"``).

        ``"already"``: another worker finished it after this worker's plan listing (the
        claim is given back at once); never with ``overwrite``.
        """
        claim = self.claims.acquire(unit)
        if claim is None:
            return "held"
        if overwrite:
            self.records.remove(unit)  # a crash from here on leaves the unit pending, not done
        elif self.records.finished(unit):
            claim.release()
            self.store.purge(claim.key)
            return "already"
        return claim

    def record(self, claim: Claim, outcome: Any, listing: Listing | None = None) -> str:
        """Record ``outcome`` of ``do_one`` (None/dict: done; :class:`Skip`; an exception) through ``claim``.

        Returns the status recorded; raises :class:`ClaimLostError` (nothing recorded)
        when the claim was lost, and re-raises an exception :func:`classify` cannot classify.
        """
        unit = claim.unit
        entry = listing.get(unit) if listing is not None else None
        older = entry.names if entry is not None else ()
        if isinstance(outcome, BaseException):
            cls = classify(outcome)
            if cls is None:
                raise outcome
            self.records.failed(unit, cls, f"{type(outcome).__name__}: {outcome}", claim=claim)
            return "failed"
        if isinstance(outcome, Skip):
            self.records.skipped(unit, outcome.reason, info=outcome.info, claim=claim, replaces=older)
            return "skipped"
        self.records.done(unit, info=outcome or {}, claim=claim, replaces=older)
        return "done"

    def finish(self, claim: Claim, status: str) -> None:
        """Release ``claim``; once a unit is finished its claim's leftovers go too."""
        if claim.release() and status in ("done", "skipped"):
            self.store.purge(claim.key)

    def run(self, units: Iterable[str], do_one: Callable[[str], Any], *,
            retry: Iterable[str] = DEFAULT_RETRY, overwrite: bool = False) -> RunReport:  # fmt: skip
        """Do every pending unit of ``units`` once: claim, ``do_one(unit)``, record, release."""
        self.store.remove_stale(f"{self.prefix}/" if self.prefix else "")
        plan = self.plan(units, retry=retry, overwrite=overwrite)
        report = RunReport(already=plan.finished)
        report.final = [u for u in plan.units if u not in plan.pending and u not in report.already]
        for unit in plan.pending:
            claim = self.claim(unit, overwrite=overwrite)
            if isinstance(claim, str):
                getattr(report, claim).append(unit)
                continue
            status = "failed"
            try:
                with claim.keep():
                    try:
                        outcome: Any = do_one(unit)
                    except Exception as err:  # recorded as a failure below (or re-raised: a bug)
                        outcome = err
                status = self.record(claim, outcome, plan.listing)
            except ClaimLostError:
                report.lost.append(unit)
                continue
            finally:
                self.finish(claim, status)
            if status == "failed":
                assert isinstance(outcome, BaseException)
                report.failed[unit] = f"{classify(outcome)}: {type(outcome).__name__}: {outcome}"
            else:
                getattr(report, status).append(unit)
        return report
