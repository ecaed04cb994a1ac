"""The ledger: one small object per chunk inside the output store, status in its name.

Layout: ``<store>/_ledger/r00003-c00007.done.json`` (or ``.skipped.json``,
``.failed.json``). The status is part of the object name, so one prefix listing tells
the state of every chunk: reading the ledger of 10,000 chunks is a handful of list
pages, not 10,000 reads. Bodies are read only for failed chunks (their reasons).
``_ledger/zarr.json`` marks the ledger as a Zarr group (so Zarr does not warn about
an unknown folder) and is written only once the output template is complete.

A record is written only after the chunk's data is durable; writes are atomic
objects, so a record is either absent or whole. ``done`` beats ``skipped`` beats
``failed`` when a chunk has several records (a retried failure).

Examples
--------
>>> led = Ledger("memory://doc-ledger.zarr")
>>> led.record(ChunkRecord(0, 1, "done", run_id="a"))
>>> led.record(ChunkRecord(1, 1, "failed", reason="RasterioIOError: bad block", run_id="a"))
>>> sorted(led.statuses().items())
[((0, 1), 'done'), ((1, 1), 'failed')]
>>> led.failures()
{(1, 1): 'RasterioIOError: bad block'}
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from reefdask.io.storage import filesystem, join, write_bytes_atomic

__all__ = ["LEDGER_DIR", "STATUSES", "ChunkRecord", "Ledger", "PredictionStatus", "status_html"]

LEDGER_DIR = "_ledger"
#: chunk statuses, strongest first
STATUSES = ("done", "skipped", "failed")
_NAME = re.compile(r"r(\d+)-c(\d+)\.(done|skipped|failed)\.json$")
_GROUP_DOC = {"zarr_format": 3, "node_type": "group", "attributes": {"reefdask": "prediction ledger"}}


@dataclass
class ChunkRecord:
    """What happened to one chunk (``status`` in :data:`STATUSES`)."""

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


class Ledger:
    """Per-chunk records under ``<store>/_ledger/``, read with one prefix listing."""

    def __init__(self, store: str, storage_options: dict[str, Any] | None = None):
        self.store = str(store)
        self.storage_options = storage_options
        self.prefix = join(self.store, LEDGER_DIR)

    def url(self, row: int, col: int, status: str) -> str:
        """The object URL of a chunk's record with ``status``."""
        return join(self.prefix, f"r{row:05d}-c{col:05d}.{status}.json")

    # -- template marker ------------------------------------------------------
    def mark_ready(self) -> None:
        """Write ``_ledger/zarr.json``: the output template is complete."""
        write_bytes_atomic(
            join(self.prefix, "zarr.json"), json.dumps(_GROUP_DOC).encode(), self.storage_options
        )

    def ready(self) -> bool:
        """Whether the template is complete (its marker exists)."""
        fs, path = filesystem(join(self.prefix, "zarr.json"), self.storage_options)
        _invalidate(fs, path)
        return bool(fs.exists(path))

    # -- records --------------------------------------------------------------
    def record(self, rec: ChunkRecord, drop: tuple[str, ...] = ()) -> None:
        """Write a chunk's record atomically; then remove its records of statuses ``drop``."""
        if rec.status not in STATUSES:
            raise ValueError(f"status {rec.status!r} is not one of {STATUSES}")
        write_bytes_atomic(
            self.url(rec.row, rec.col, rec.status), json.dumps(asdict(rec)).encode(), self.storage_options
        )
        for status in drop:
            if status != rec.status:
                fs, path = filesystem(self.url(rec.row, rec.col, status), self.storage_options)
                try:
                    fs.rm_file(path)
                except FileNotFoundError:
                    pass

    def finished(self, row: int, col: int) -> bool:
        """Whether the chunk is recorded done or skipped (two existence checks)."""
        for status in ("done", "skipped"):
            fs, path = filesystem(self.url(row, col, status), self.storage_options)
            _invalidate(fs, path)
            if fs.exists(path):
                return True
        return False

    def names(self) -> list[str]:
        """Names of all record objects (one prefix listing)."""
        fs, path = filesystem(self.prefix, self.storage_options)
        _invalidate(fs, path)
        try:
            entries = fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        return [e.rstrip("/").rsplit("/", 1)[-1] for e in entries]

    def statuses(self) -> dict[tuple[int, int], str]:
        """``{(row, col): status}`` of every recorded chunk, strongest status per chunk."""
        out: dict[tuple[int, int], str] = {}
        for name in self.names():
            m = _NAME.match(name)
            if m is None:
                continue
            key, status = (int(m.group(1)), int(m.group(2))), m.group(3)
            if key not in out or STATUSES.index(status) < STATUSES.index(out[key]):
                out[key] = status
        return out

    def read(self, keys: list[tuple[int, int, str]]) -> list[ChunkRecord]:
        """Full records of ``(row, col, status)`` keys, fetched concurrently where the store allows."""
        if not keys:
            return []
        fs, _ = filesystem(self.prefix, self.storage_options)
        paths = [filesystem(self.url(r, c, s), self.storage_options)[1] for r, c, s in keys]
        blobs = fs.cat(paths, on_error="omit")
        return [ChunkRecord(**json.loads(blobs[p])) for p in paths if p in blobs]

    def failures(self) -> dict[tuple[int, int], str]:
        """``{(row, col): reason}`` of chunks whose strongest record is ``failed``."""
        failed = [(r, c, s) for (r, c), s in self.statuses().items() if s == "failed"]
        return {(rec.row, rec.col): rec.reason for rec in self.read(failed)}

    def records(self) -> list[ChunkRecord]:
        """Every chunk's strongest record, read in full (for reports and tests)."""
        return self.read([(r, c, s) for (r, c), s in sorted(self.statuses().items())])

    def clear(self) -> None:
        """Delete the whole ledger."""
        fs, path = filesystem(self.prefix, self.storage_options)
        if fs.exists(path):
            fs.rm(path, recursive=True)

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


def _invalidate(fs: Any, path: str) -> None:
    """Drop fsspec's listing cache (gcsfs keeps one) so other processes' writes are seen."""
    try:
        fs.invalidate_cache(path)
        fs.invalidate_cache(path.rsplit("/", 1)[0])
    except Exception:  # pragma: no cover - filesystems without a cache
        pass
