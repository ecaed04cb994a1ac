"""The ledger: the prediction's view of the shared unit-of-work records, one unit per chunk.

Chunks are units of :mod:`reefdask.work` under ``<store>/_ledger/``, named
``r00003-c00007``: a record ``r00003-c00007.done.json`` (or ``.skipped.nodata.json``,
``.failed.<class>.json``) says what happened, its status in the object name, so one
prefix listing tells the state of every chunk (10,000 chunks are a handful of list
pages, not 10,000 reads); bodies are read only for failed chunks (their reasons). A
chunk is computed under a fenced, expiring claim (``_ledger/_claims/r00003-c00007``), so
two runs into one store never both compute it. ``_ledger/zarr.json`` marks the ledger
as a Zarr group (so Zarr does not warn about an unknown folder) and is written only once
the output template is complete. Records of the ledger's first format
(``r00003-c00007.failed.json``) still read.

A record is written only after the chunk's data is durable; records are published all
or nothing, so one is absent or whole. ``done`` beats ``skipped`` beats ``failed`` when a
chunk has several records (a retried failure).

Examples
--------
>>> led = Ledger("memory://doc-ledger.zarr")
>>> led.record(ChunkRecord(0, 1, "done", run_id="a"))
>>> led.record(ChunkRecord(1, 1, "failed", reason="RasterioIOError: bad block", run_id="a"))
>>> sorted(led.statuses().items())
[((0, 1), 'done'), ((1, 1), 'failed')]
>>> led.failures()
{(1, 1): 'RasterioIOError: bad block'}
>>> led.names()
['r00000-c00001.done.json', 'r00001-c00001.failed.transient.json']
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from reefdask.io.store import Store, open_store
from reefdask.work.claims import Claim, Claims
from reefdask.work.records import FAILURES, SKIP_REASONS, Entry, Listing, Record, Records, record_name

__all__ = ["LEDGER_DIR", "STATUSES", "ChunkRecord", "Ledger", "PredictionStatus", "status_html", "unit"]

LEDGER_DIR = "_ledger"
#: chunk statuses, strongest first
STATUSES = ("done", "skipped", "failed")
_UNIT = re.compile(r"r(\d+)-c(\d+)$")
_GROUP_DOC = {"zarr_format": 3, "node_type": "group", "attributes": {"reefdask": "prediction ledger"}}


def unit(row: int, col: int) -> str:
    """The work unit name of chunk ``(row, col)``: ``r00003-c00007``."""
    return f"r{row:05d}-c{col:05d}"


@dataclass
class ChunkRecord:
    """What happened to one chunk (``status`` in :data:`STATUSES`).

    ``detail`` is the failure class of a failed chunk (one of
    :data:`reefdask.work.FAILURES`, default ``transient``); skipped chunks are ``nodata``.
    """

    row: int
    col: int
    status: str
    reason: str = ""
    fingerprint: str = ""
    run_id: str = ""
    seconds: float = 0.0
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    time: float = field(default_factory=time.time)
    detail: str = ""

    def to_record(self) -> Record:
        """The unit-of-work record of this chunk."""
        detail = {"done": "", "skipped": "nodata"}.get(self.status, self.detail or "transient")
        info = {"row": self.row, "col": self.col, "fingerprint": self.fingerprint, "seconds": self.seconds}
        return Record(unit(self.row, self.col), self.status, detail, self.reason, self.run_id,
                      host=self.host, pid=self.pid, time=self.time, info=info)  # fmt: skip

    @classmethod
    def from_record(cls, rec: Record) -> ChunkRecord:
        """The chunk record of a unit-of-work record (or of an old ledger body)."""
        m = _UNIT.match(rec.unit)
        row, col = (int(m.group(1)), int(m.group(2))) if m else (-1, -1)
        info = rec.info
        return cls(
            row,
            col,
            rec.status,
            rec.reason or str(info.get("reason", "")),
            str(info.get("fingerprint", "")),
            str(info.get("run_id") or rec.run),  # old bodies carry run_id
            float(info.get("seconds", 0.0)),
            rec.pid,
            rec.host,
            rec.time,
            rec.detail if rec.status == "failed" else "",
        )


class Ledger:
    """Per-chunk records and claims under ``<store>/_ledger/``, read with one prefix listing.

    ``store`` is a :class:`~reefdask.io.store.Store` or a URL (opened here with
    ``storage_options``); :attr:`store` is the output's URL.
    """

    def __init__(
        self, store: Store | str, storage_options: dict[str, Any] | None = None, *, ttl: float | None = None
    ):
        import dask.config

        backend = open_store(store, storage_options)
        self.store = backend.url
        self._records = Records(backend, LEDGER_DIR)
        self._ttl = float(ttl or dask.config.get("reefdask.predict.claim-ttl", 600.0))
        self._claims: Claims | None = None
        self._listing: Listing | None = None

    @property
    def backend(self) -> Store:
        """The output's :class:`~reefdask.io.store.Store`."""
        return self._records.store

    def url(self, row: int, col: int, status: str) -> str:
        """The object URL of a chunk's record with ``status`` (failures: class ``transient``)."""
        detail = {"skipped": "nodata", "failed": "transient"}.get(status, "")
        return self.backend.url_for(self._records.key(record_name(unit(row, col), status, detail)))

    # -- template marker ------------------------------------------------------
    def mark_ready(self) -> None:
        """Write ``_ledger/zarr.json``: the output template is complete."""
        self.backend.publish(f"{LEDGER_DIR}/zarr.json", json.dumps(_GROUP_DOC).encode())

    def ready(self) -> bool:
        """Whether the template is complete (its marker exists)."""
        return self.backend.exists(f"{LEDGER_DIR}/zarr.json")

    # -- claims ---------------------------------------------------------------
    def claim(self, row: int, col: int, owner: str = "") -> Claim | None:
        """Claim the chunk for this worker: the fenced :class:`~reefdask.work.Claim`, or None while held.

        A claim expires after ``reefdask.predict.claim-ttl`` seconds (default 600) unless
        renewed; one of a dead process on this host is taken over at once.
        """
        if self._claims is None:
            self._claims = Claims(self.backend, LEDGER_DIR, owner=owner or None, ttl=self._ttl)
        return self._claims.acquire(unit(row, col))

    def finished(self, row: int, col: int) -> bool:
        """Whether the chunk is recorded done or skipped (one listing of its own records)."""
        names = self.backend.list(self._records.key(f"{unit(row, col)}."))
        return any(n.endswith((".done.json", *(f".skipped.{r}.json" for r in SKIP_REASONS))) for n in names)

    # -- records --------------------------------------------------------------
    def record(self, rec: ChunkRecord, drop: tuple[str, ...] = (), claim: Claim | None = None) -> None:
        """Write a chunk's record; then remove its records of statuses ``drop``.

        With ``claim``, the claim is checked first (fencing): a claim lost to a takeover
        raises :class:`~reefdask.work.ClaimLostError` and nothing is recorded.
        """
        if rec.status not in STATUSES:
            raise ValueError(f"status {rec.status!r} is not one of {STATUSES}")
        r = rec.to_record()
        replaces: list[str] = []
        for status in drop:
            if status == "failed":
                replaces += [record_name(r.unit, "failed", c) for c in FAILURES] + [f"{r.unit}.failed.json"]
            elif status == "skipped" and rec.status != "skipped":
                replaces += [record_name(r.unit, "skipped", x) for x in SKIP_REASONS] + [
                    f"{r.unit}.skipped.json"
                ]
            elif status == "done" and rec.status != "done":
                replaces.append(record_name(r.unit, "done"))
        records = Records(self.backend, LEDGER_DIR, run=rec.run_id)
        if rec.status == "failed":
            records.failed(r.unit, r.detail, rec.reason, info=r.info, claim=claim)
            for name in replaces:
                if ".failed." not in name:
                    self.backend.remove(records.key(name))
            return
        if rec.status == "done":
            records.done(r.unit, info=r.info, claim=claim, replaces=replaces)
        else:
            records.skipped(r.unit, "nodata", info=r.info, claim=claim, replaces=replaces)

    def listing(self) -> Listing:
        """Every chunk's strongest record name (one prefix listing)."""
        self._listing = self._records.scan()
        return self._listing

    def names(self) -> list[str]:
        """Names of all record objects (one prefix listing)."""
        start = len(LEDGER_DIR) + 1
        keys = [k[start:] for k in self.backend.list(f"{LEDGER_DIR}/")]
        return [k for k in keys if "/" not in k and not k.startswith("_") and k != "zarr.json"]

    def statuses(self) -> dict[tuple[int, int], str]:
        """``{(row, col): status}`` of every recorded chunk, strongest status per chunk."""
        out: dict[tuple[int, int], str] = {}
        for u, e in self.listing().items():
            m = _UNIT.match(u)
            if m is not None:
                out[int(m.group(1)), int(m.group(2))] = e.status
        return out

    def read(self, keys: list[tuple[int, int, str]]) -> list[ChunkRecord]:
        """Full records of ``(row, col, status)`` keys (names from the last listing, else one now)."""
        if not keys:
            return []
        listing = self._listing if self._listing is not None else self.listing()
        out = []
        for row, col, status in keys:
            e: Entry | None = listing.get(unit(row, col))
            names = [n for n in (e.names if e else ()) if f".{status}." in n]
            rec = self._records.read(names[0]) if names else None
            if rec is not None:
                out.append(ChunkRecord.from_record(rec))
        return out

    def failures(self) -> dict[tuple[int, int], str]:
        """``{(row, col): reason}`` of chunks whose strongest record is ``failed``."""
        failed = [(r, c, s) for (r, c), s in self.statuses().items() if s == "failed"]
        return {(rec.row, rec.col): rec.reason for rec in self.read(failed)}

    def records(self) -> list[ChunkRecord]:
        """Every chunk's strongest record, read in full (for reports and tests)."""
        return self.read([(r, c, s) for (r, c), s in sorted(self.statuses().items())])

    def clear(self) -> None:
        """Delete the whole ledger."""
        self.backend.remove(LEDGER_DIR, recursive=True)

    def counts(self) -> dict[str, int]:
        """Chunks per status (one listing)."""
        found = list(self.statuses().values())
        return {s: found.count(s) for s in STATUSES}

    def __repr__(self) -> str:
        return f"Ledger({self.store!r})"

    def _repr_html_(self) -> str:
        """Counts per status and failure reasons, read now (one listing, plus one read per failure)."""
        counts = self.counts()
        return status_html("Ledger", self.store, counts, sum(counts.values()), self.failures())


class PredictionStatus(dict[str, Any]):
    """The result of :func:`reefdask.predict.prediction_status`: a dict that prints and renders.

    A plain JSON-friendly dict (keys ``store``, ``scene``, ``fingerprint``, ``config_hash``,
    ``model``, ``total``, ``counts``, ``failures``), as before, plus ``__str__`` and ``_repr_html_``.
    """

    def __str__(self) -> str:
        c = self.get("counts", {})
        counts = ", ".join(f"{c.get(s, 0)} {s}" for s in (*STATUSES, "pending"))
        lines = [
            f"{self.get('store')}: {counts} of {self.get('total')} chunks "
            f"(scene {self.get('scene')}, fingerprint {self.get('fingerprint')})"
        ]
        lines += [f"  failed chunk {k}: {why}" for k, why in self.get("failures", {}).items()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        about = {k: self.get(k) for k in ("scene", "model", "fingerprint", "config_hash")}
        return status_html(
            "Prediction status", str(self.get("store")), self.get("counts", {}), self.get("total"),
            self.get("failures", {}), about,
        )  # fmt: skip


def status_html(
    kind: str,
    store: str,
    counts: dict[str, int],
    total: int | None,
    failures: dict[Any, str],
    about: dict[str, Any] | None = None,
) -> str:
    """HTML of a store's chunk statuses: a share bar, counts per status, failed chunks with reasons."""
    from reefdask.reporting.html import block, esc, fields, section, table

    total = total or 0
    order = [s for s in (*STATUSES, "pending") if s in counts or s != "pending"]
    colors = {"done": "#2ca02c", "skipped": "#7f7f7f", "failed": "#d62728", "pending": "#dddddd"}
    bar = "".join(
        f'<span title="{esc(s)}" style="display:inline-block;height:8px;'
        f'width:{200 * counts.get(s, 0) // total}px;background:{colors[s]}"></span>'
        for s in order
        if total and counts.get(s, 0)
    )
    rows = [[s, counts.get(s, 0), 100.0 * counts.get(s, 0) / total if total else None] for s in order]
    parts = [f"<div>{bar}</div>", table(["status", "chunks", "%"], [*rows, ["total", total, None]])]
    if about:
        parts.append(fields(about))
    if failures:
        fails = [[f"{k[0]}-{k[1]}" if isinstance(k, tuple) else k, w] for k, w in sorted(failures.items())]
        parts.append(section(f"{len(failures)} failed chunk(s)", table(["chunk", "reason"], fails)))
    return block(kind, store, *parts)
