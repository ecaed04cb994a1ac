"""Per-quad statuses of a global run, readable in one listing.

A status is a small object named ``<quad>.<status>`` under ``RUN/state/status/``; its
body (JSON) holds the job, the time, the compute seconds and, for ``corrupt`` and
``missing``, the error. The name carries the status, so progress over the whole run is
one listing of that folder (a few paged requests on a bucket), never one request per
quad; only the few failed quads are read for their reasons.

Statuses
--------
``done``           products written
``no_reef``        the reef outline had no reef pixel: nothing but the status is written
``nodata``         every input pixel was nodata
``out_of_domain``  outside the run's domain mask (decided before any model ran)
``corrupt``        the source could not be read or decoded (the error is kept)
``missing``        the source vanished

Examples
--------
>>> import tempfile
>>> st = StatusStore(tempfile.mkdtemp())
>>> st.record("L15-0001E-0001N", "done", job="j1", seconds=1.5)
>>> st.record("L15-0002E-0001N", "corrupt", job="j1", error="TIFFReadEncodedTile failed")
>>> sorted((q, s.status) for q, s in st.listing().items())
[('L15-0001E-0001N', 'done'), ('L15-0002E-0001N', 'corrupt')]
>>> st.status_of("L15-0002E-0001N"), st.status_of("L15-0003E-0001N")
('corrupt', None)
>>> st.details("corrupt")["L15-0002E-0001N"]["error"]
'TIFFReadEncodedTile failed'
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reefdask.errors import StoreError
from reefdask.io.storage import filesystem, is_local, join, strip_protocol, write_bytes_atomic

__all__ = ["STATUSES", "QuadStatus", "StatusStore"]

STATUSES = ("done", "no_reef", "nodata", "out_of_domain", "corrupt", "missing")


@dataclass(frozen=True)
class QuadStatus:
    """A quad's status and when it was recorded (seconds since the epoch)."""

    quad: str
    status: str
    time: float


class StatusStore:
    """The statuses of one run, in a folder or bucket prefix (``RUN/state/status``)."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = str(url).rstrip("/")
        self.storage_options = storage_options

    def _fs(self) -> tuple[Any, str]:
        return filesystem(self.url, self.storage_options)

    def record(
        self,
        quad: str,
        status: str,
        *,
        job: str = "",
        seconds: float | None = None,
        error: str | None = None,
        replace: bool = False,
    ) -> None:
        """Record ``status`` for ``quad`` (idempotent: same name, same meaning).

        ``replace=True`` first removes a different earlier status of the quad.
        """
        if status not in STATUSES:
            raise StoreError(f"Unknown quad status {status!r}; use one of {', '.join(STATUSES)}.")
        if replace:
            old = self.status_of(quad)
            if old is not None and old != status:
                fs, path = self._fs()
                fs.rm_file(f"{path}/{quad}.{old}")
        body = {"quad": quad, "status": status, "job": job, "time": time.time(), "seconds": seconds}
        if error is not None:
            body["error"] = str(error)[:2000]
        write_bytes_atomic(
            join(self.url, f"{quad}.{status}"), json.dumps(body).encode(), self.storage_options
        )

    def listing(self) -> dict[str, QuadStatus]:
        """Every recorded quad -> its status, from one listing (newest wins on duplicates)."""
        out: dict[str, QuadStatus] = {}
        for name, mtime in self._entries():
            quad, _, status = name.rpartition(".")
            if status in STATUSES and (quad not in out or out[quad].time < mtime):
                out[quad] = QuadStatus(quad, status, mtime)
        return out

    def status_of(self, quad: str) -> str | None:
        """The status of one quad (a few stat calls locally, one prefix listing on a bucket)."""
        if is_local(self.url):
            root = strip_protocol(self.url)
            found = [s for s in STATUSES if os.path.exists(os.path.join(root, f"{quad}.{s}"))]
        else:
            fs, path = self._fs()
            try:
                names = fs.ls(path, prefix=f"{quad}.", detail=False, refresh=True)
            except (FileNotFoundError, TypeError):
                names = [p for p in _ls(fs, path) if p.rsplit("/", 1)[-1].startswith(f"{quad}.")]
            found = [n.rsplit(".", 1)[-1] for n in names if n.rsplit(".", 1)[-1] in STATUSES]
        return found[0] if found else None

    def details(self, status: str = "corrupt") -> dict[str, dict[str, Any]]:
        """The bodies of every quad with ``status`` (for reasons of corrupt/missing quads)."""
        fs, path = self._fs()
        names = [n for n, _ in self._entries() if n.endswith(f".{status}")]
        if not names:
            return {}
        blobs = fs.cat([f"{path}/{n}" for n in names], on_error="omit")
        out = {}
        for full, raw in blobs.items():
            name = full.rsplit("/", 1)[-1]
            out[name.rpartition(".")[0]] = json.loads(raw)
        return out

    def _entries(self) -> list[tuple[str, float]]:
        """``(object name, modification time)`` for each status object."""
        if is_local(self.url):
            root = strip_protocol(self.url)
            try:
                with os.scandir(root) as it:
                    return [(e.name, e.stat().st_mtime) for e in it if not e.name.startswith(".")]
            except FileNotFoundError:
                return []
        fs, path = self._fs()
        fs.invalidate_cache(path)
        try:
            infos = fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        return [(i["name"].rsplit("/", 1)[-1], _mtime(i)) for i in infos if i.get("type") != "directory"]


def _ls(fs: Any, path: str) -> list[str]:
    fs.invalidate_cache(path)
    try:
        return list(fs.ls(path, detail=False))
    except FileNotFoundError:
        return []


def _mtime(info: dict[str, Any]) -> float:
    value = info.get("mtime") or info.get("updated") or info.get("LastModified") or info.get("created")
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return float(value or 0.0)
