"""Completion records: one small object per unit of work, its status in the object name.

Every stage records what happened to each of its units (a cube scene, an acquired file,
a prediction chunk, a global-map quad, a cleaned quad, a sample store, a training run)
in the same format, under a prefix of its output store::

    <prefix>/<unit>.done.json
    <prefix>/<unit>.skipped.<reason>.json     reason in SKIP_REASONS (nodata, no_reef, ...)
    <prefix>/<unit>.failed.<class>.json       class in FAILURES (permanent, transient, missing)

Why the status is in the name: one prefix listing (:meth:`Records.scan`) gives the
status of every unit, so planning or reporting 10,000 units costs a few list pages, not
10,000 reads. Bodies (JSON: unit, status, detail, reason, run, owner, host, pid, time,
attempts, info) are read only where names do not say enough: the reasons of failures.
Records are data objects written with :meth:`Store.publish`, so one is absent or whole.

Precedence when a unit has several records (a retried failure, a crash between
recording and tidying): ``done`` beats ``skipped`` beats ``failed``; among failures
``permanent`` beats ``missing`` beats ``transient``. Recording ``done`` or ``skipped``
removes the unit's older records the caller knows of; recording a failure carries the
earlier failures' attempts forward (so a record says how often and why it failed) and
removes them. :meth:`Records.tidy` removes whatever records the precedence hides.

No failure is final: :meth:`Listing.pending` returns units without a record plus failed
units whose class is in ``retry`` (default: ``transient`` and ``missing``; pass
``retry=FAILURES`` to retry permanent failures too, ``retry=()`` to retry nothing).

Old records named ``<unit>.<status>.json`` (the prediction ledger before the work layer)
still read: ``failed`` without a class counts as ``transient``, ``skipped`` without a
reason as ``nodata``.

Examples
--------
>>> from reefdask.io.store import open_store
>>> rec = Records(open_store("memory://doc-records"), "_work")
>>> rec.done("a", info={"seconds": 1.5})
>>> rec.skipped("b", "no_reef")
>>> r = rec.failed("c", "transient", "OSError: connection reset")
>>> listing = rec.scan()                               # one listing, no reads
>>> sorted((u, e.status, e.detail) for u, e in listing.items())
[('a', 'done', ''), ('b', 'skipped', 'no_reef'), ('c', 'failed', 'transient')]
>>> listing.pending(["a", "b", "c", "d"]), listing.pending(["c", "d"], retry=())
(['c', 'd'], ['d'])
>>> rec.failures(listing)["c"].attempts[0]["reason"]
'OSError: connection reset'
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from reefdask.errors import ConfigError, InputNotFoundError

if TYPE_CHECKING:
    from reefdask.io.store import Store
    from reefdask.work.claims import Claim

__all__ = ["STATUSES", "FAILURES", "SKIP_REASONS", "DEFAULT_RETRY", "Record", "Entry", "Listing", "Records"]

#: unit statuses, strongest first
STATUSES = ("done", "skipped", "failed")
#: failure classes, strongest first: permanent (bad input, a bug in the data), missing
#: (an input vanished), transient (network, a full disk, a lost claim: likely to pass)
FAILURES = ("permanent", "missing", "transient")
#: why a unit was skipped: nothing to compute (all nodata), no reef pixel, outside the run's domain
SKIP_REASONS = ("nodata", "no_reef", "out_of_domain")
#: failure classes a rerun retries unless told otherwise
DEFAULT_RETRY = ("transient", "missing")
#: one process's run id (callers usually pass their own)
RUN_ID = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

_NAME = re.compile(r"^(?P<unit>.+)\.(?P<status>done|skipped|failed)(?:\.(?P<detail>[a-z_]+))?\.json$")
_UNIT = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


def check_unit(unit: str) -> str:
    """``unit`` if it is a valid unit name (letters, digits, ``_.-``, ``/`` between parts)."""
    if not _UNIT.match(unit) or unit.startswith("_") or "/_" in unit or ".." in unit:
        raise ConfigError(
            f"{unit!r} is not a valid unit name; use letters, digits and '_.-' ('/' between parts), "
            "not starting with '_' (reserved for claims)."
        )
    return unit


@dataclass
class Record:
    """What happened to one unit: the body of its record object."""

    unit: str
    status: str
    #: the skip reason or the failure class ("" for done)
    detail: str = ""
    #: a failure's message (the last attempt's)
    reason: str = ""
    run: str = RUN_ID
    owner: str = ""
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    time: float = field(default_factory=time.time)
    #: every failed attempt so far, oldest first: ``{"time", "run", "host", "class", "reason"}``
    attempts: list[dict[str, Any]] = field(default_factory=list)
    #: stage-specific facts (fingerprint, seconds, bytes, checksum ...)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The object name of this record (relative to the prefix)."""
        return record_name(self.unit, self.status, self.detail)

    def to_json(self) -> bytes:
        """The record as JSON bytes."""
        return json.dumps(asdict(self), sort_keys=True, default=str).encode()

    @classmethod
    def from_json(cls, data: bytes, **defaults: Any) -> Record:
        """A record from :meth:`to_json` bytes; keys of other formats (old ledgers) go to ``info``.

        ``defaults`` fill what old bodies lack (unit, status, detail: from the object name).
        """
        raw = json.loads(data)
        known = {k: raw.pop(k) for k in list(raw) if k in cls.__dataclass_fields__}
        known.setdefault("info", {}).update(raw)
        return cls(**{**defaults, **known})


def record_name(unit: str, status: str, detail: str = "") -> str:
    """``<unit>.<status>[.<detail>].json``, checking the vocabulary."""
    if status == "done":
        detail = ""
    elif status == "skipped" and detail not in SKIP_REASONS:
        raise ConfigError(f"Skip reason {detail!r} is not one of {SKIP_REASONS}; add it there if it is new.")
    elif status == "failed" and detail not in FAILURES:
        raise ConfigError(f"Failure class {detail!r} is not one of {FAILURES}.")
    elif status not in STATUSES:
        raise ConfigError(f"Status {status!r} is not one of {STATUSES}.")
    return f"{unit}.{status}.{detail}.json" if detail else f"{unit}.{status}.json"


def _rank(status: str, detail: str) -> tuple[int, int]:
    return STATUSES.index(status), FAILURES.index(detail) if status == "failed" else 0


@dataclass(frozen=True)
class Entry:
    """A unit's strongest record, from its name alone; ``names``: all its record names."""

    unit: str
    status: str
    detail: str
    names: tuple[str, ...]

    @property
    def finished(self) -> bool:
        """Done or skipped: nothing left to do."""
        return self.status in ("done", "skipped")


class Listing(dict[str, Entry]):
    """``{unit: Entry}`` of every recorded unit, from one prefix listing."""

    def counts(self) -> dict[str, int]:
        """Units per status."""
        found = [e.status for e in self.values()]
        return {s: found.count(s) for s in STATUSES}

    def units(self, status: str, detail: str | None = None) -> list[str]:
        """Sorted units whose strongest status is ``status`` (and ``detail``, when given)."""
        return sorted(u for u, e in self.items() if e.status == status and detail in (None, e.detail))

    def pending(self, units: Iterable[str], retry: Iterable[str] = DEFAULT_RETRY) -> list[str]:
        """Units of ``units`` (in their order) that have no record or failed with a class in ``retry``."""
        again = set(retry)
        bad = again - set(FAILURES)
        if bad:
            raise ConfigError(f"retry={sorted(bad)} names no failure class; use some of {FAILURES}.")
        out = []
        for u in units:
            e = self.get(u)
            if e is None or (e.status == "failed" and e.detail in again):
                out.append(u)
        return out


class Records:
    """The completion records of one stage's units, under ``prefix`` of ``store``."""

    def __init__(self, store: Store, prefix: str = "_work", *, run: str = RUN_ID, owner: str = "",
                 skip_reasons: Iterable[str] = SKIP_REASONS) -> None:  # fmt: skip
        self.store = store
        self.prefix = prefix.strip("/")
        self.run, self.owner = run, owner
        #: the skip reasons this stage records (fewer: fewer existence checks in :meth:`finished`)
        self.skip_reasons = tuple(skip_reasons)
        if set(self.skip_reasons) - set(SKIP_REASONS):
            raise ConfigError(f"skip_reasons={self.skip_reasons} must be some of {SKIP_REASONS}.")

    def key(self, name: str) -> str:
        """The store key of a record name."""
        return f"{self.prefix}/{name}" if self.prefix else name

    # -- reading ---------------------------------------------------------------------
    def scan(self) -> Listing:
        """Every unit's strongest record, from ONE listing of the prefix (no reads)."""
        start = len(self.prefix) + 1 if self.prefix else 0
        found: dict[str, list[tuple[tuple[int, int], str, str, str]]] = {}
        for key in self.store.list(f"{self.prefix}/" if self.prefix else ""):
            name = key[start:]
            m = _NAME.match(name)
            if m is None or name.startswith("_") or "/_" in name:
                continue  # claims, group markers, other files
            status, detail = m["status"], m["detail"] or ""
            if status == "failed" and detail not in FAILURES:
                detail = "transient"
            elif status == "skipped" and not detail:
                detail = "nodata"
            found.setdefault(m["unit"], []).append((_rank(status, detail), status, detail, name))
        out = Listing()
        for unit, recs in found.items():
            recs.sort()
            out[unit] = Entry(unit, recs[0][1], recs[0][2], tuple(r[3] for r in recs))
        return out

    def read(self, name: str) -> Record | None:
        """The record object ``name`` (from an :class:`Entry`), or None when it is gone."""
        try:
            data = self.store.read(self.key(name))
        except InputNotFoundError:
            return None
        m = _NAME.match(name)
        unit, status, detail = (m["unit"], m["status"], m["detail"] or "") if m else (name, "failed", "")
        return Record.from_json(data, unit=unit, status=status, detail=detail)

    def get(self, unit: str, entry: Entry | None = None) -> Record | None:
        """The strongest record of ``unit`` (one listing unless its ``entry`` is given)."""
        entry = entry or self.scan().get(unit)
        return None if entry is None else self.read(entry.names[0])

    def finished(self, unit: str) -> bool:
        """Whether ``unit`` is done or skipped (a prefix listing or existence checks).

        A store whose prefix listing is one request (a bucket) lists the unit's own records
        once; a file system checks each record name (a listing would read the whole folder).
        Used right after a claim is taken, to catch a unit another worker finished after
        this worker's plan listing.
        """
        names = [record_name(unit, "done"), *(record_name(unit, "skipped", r) for r in self.skip_reasons)]
        if self.store.prefix_listing:  # one request on a bucket instead of one (or two) per name
            wanted = {self.key(n) for n in names}
            return any(k in wanted for k in self.store.list(self.key(f"{unit}.")))
        return any(self.store.exists(self.key(n)) for n in names)

    def failures(self, listing: Listing | None = None) -> dict[str, Record]:
        """``{unit: record}`` of units whose strongest record is a failure (one read each)."""
        listing = self.scan() if listing is None else listing
        out = {}
        for unit, e in sorted(listing.items()):
            if e.status == "failed":
                rec = self.read(e.names[0])
                if rec is not None:
                    out[unit] = rec
        return out

    # -- writing ---------------------------------------------------------------------
    def done(self, unit: str, *, info: Mapping[str, Any] | None = None, claim: Claim | None = None,
             replaces: Iterable[str] = ()) -> None:  # fmt: skip
        """Record ``unit`` done; then remove its older records ``replaces`` (names from an Entry).

        With ``claim``, first prove the claim is still held (:meth:`Claim.check`); a lost
        claim raises :class:`~reefdask.work.claims.ClaimLostError` and records nothing.
        """
        self._write(Record(unit, "done", info=dict(info or {})), claim, replaces)

    def skipped(self, unit: str, reason: str, *, info: Mapping[str, Any] | None = None,
                claim: Claim | None = None, replaces: Iterable[str] = ()) -> None:  # fmt: skip
        """Record ``unit`` skipped for ``reason`` (one of :data:`SKIP_REASONS`); see :meth:`done`."""
        self._write(Record(unit, "skipped", reason, info=dict(info or {})), claim, replaces)

    def failed(self, unit: str, cls: str, reason: str, *, info: Mapping[str, Any] | None = None,
               claim: Claim | None = None) -> Record:  # fmt: skip
        """Record a failed attempt (``cls`` in :data:`FAILURES`), carrying earlier attempts forward."""
        rec = Record(unit, "failed", cls, str(reason)[:2000], info=dict(info or {}))
        older = []
        for c in FAILURES:  # failures are few: reading their records is cheap
            prev = self.read(record_name(unit, "failed", c))
            if prev is not None:
                older.append(prev)
        for prev in sorted(older, key=lambda r: r.time):
            rec.attempts += prev.attempts
        rec.attempts.append({"time": rec.time, "run": self.run, "host": rec.host, "class": cls,
                             "reason": rec.reason})  # fmt: skip
        self._write(rec, claim, [p.name for p in older])
        return rec

    def _write(self, rec: Record, claim: Claim | None, replaces: Iterable[str]) -> None:
        check_unit(rec.unit)
        rec.run, rec.owner = self.run, self.owner or (claim.owner if claim is not None else "")
        name = rec.name
        if claim is not None:
            claim.check()
        self.store.publish(self.key(name), rec.to_json())
        for old in replaces:
            if old != name:
                self.store.remove(self.key(old))

    def remove(self, unit: str, entry: Entry | None = None) -> None:
        """Forget every record of ``unit`` (so it is pending again), e.g. for an overwrite.

        Without its ``entry`` every name the vocabulary allows is removed (no listing).
        """
        if entry is not None:
            names = list(entry.names)
        else:
            names = [record_name(unit, "done")]
            names += [record_name(unit, "skipped", r) for r in SKIP_REASONS]
            names += [record_name(unit, "failed", c) for c in FAILURES]
        for name in names:
            self.store.remove(self.key(name))

    def tidy(self, listing: Listing | None = None) -> int:
        """Remove records hidden by a stronger one of the same unit; returns how many."""
        listing = self.scan() if listing is None else listing
        n = 0
        for e in listing.values():
            for name in e.names[1:]:
                self.store.remove(self.key(name))
                n += 1
        return n

    def __repr__(self) -> str:
        return f"Records({self.store!r}, {self.prefix!r})"
