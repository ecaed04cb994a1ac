"""Publishing local files atomically, and claims that keep concurrent runs apart.

* :func:`part_path` names a temporary file *in the destination folder*
  (``.<name>.part-<host>-<pid>-<hex>``, :func:`reefdask.io.store.temp_name`), and
  :func:`publish` renames it into place with the store's publication
  (:meth:`reefdask.io.store_local.LocalStore.publish_file`): nothing ever appears under
  the final name before it is complete and verified.
* :func:`remove_stale_parts` deletes temporary files left by killed runs: those of a
  dead process on this host, and any older than ``max_age`` seconds.
* :class:`Claim` is an ``O_EXCL`` claim file beside an output: a second run that finds a
  live claim waits for the output instead of computing it again. Unlike the lock files
  of the reference practice, a claim expires: it is stale when its process is dead (same
  host) or when it is older than ``ttl`` seconds.

Examples
--------
>>> p = part_path("/data/imagery/L15-0001E-0002N.tif")
>>> p.parent.as_posix(), p.name.startswith(".L15-0001E-0002N.tif.part-")
('/data/imagery', True)
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from reefdask.io.store import HOST, is_stale_temporary, temp_name
from reefdask.io.store_local import LocalStore

__all__ = ["part_path", "publish", "remove_stale_parts", "Claim"]

_HOST = HOST


def part_path(final: str | Path) -> Path:
    """A unique temporary name beside ``final`` (same folder, so rename is atomic)."""
    final = Path(final)
    return final.with_name(temp_name(final.name))


def publish(part: str | Path, final: str | Path, *, fsync: bool = True) -> None:
    """Rename ``part`` to ``final`` in one atomic step, after flushing it to disk.

    The rename alone makes a killed process harmless; ``fsync`` also survives a machine
    crash (power loss), at the price of waiting for the disk.
    """
    final = Path(final)
    LocalStore(final.parent, fsync=fsync).publish_file(final.name, os.fspath(part), move=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_dead(host: str, pid: int) -> bool:
    return host == _HOST and not _pid_alive(pid)


def remove_stale_parts(final: str | Path, max_age: float = 86400.0) -> int:
    """Delete leftover temporary files of ``final``; returns how many were removed."""
    final = Path(final)
    removed = 0
    if not final.parent.is_dir():
        return 0
    for p in final.parent.glob(f".{final.name}.part-*"):
        try:
            stale = is_stale_temporary(p.name, p.stat().st_mtime, max_age)
        except OSError:
            continue
        if stale:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed += 1
    return removed


class Claim:
    """An expiring ``O_EXCL`` claim on an output path (``<output>.claim``)."""

    def __init__(self, output: str | Path, ttl: float = 1800.0) -> None:
        self.path = Path(f"{output}.claim")
        self.ttl = ttl
        self.held = False

    def acquire(self) -> bool:
        """Take the claim if it is free or stale; False while another live run holds it."""
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self._stale():
                    return False
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"host": _HOST, "pid": os.getpid(), "time": time.time()}, f)
            self.held = True
            return True
        return False

    def release(self) -> None:
        """Drop the claim if this process holds it."""
        if self.held:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.held = False

    def _stale(self) -> bool:
        try:
            info = json.loads(self.path.read_text() or "{}")
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return True
        except (OSError, ValueError):
            return False  # being written right now
        if not info:
            return age > 5.0  # created, content not yet written
        return _owner_dead(str(info.get("host")), int(info.get("pid", -1))) or age > self.ttl

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
