"""Publishing local files atomically, and claims that keep concurrent runs apart.

* :func:`part_path` names a temporary file *in the destination folder*
  (``.<name>.part-<host>-<pid>-<hex>``, :func:`reefdask.io.store.temp_name`), and
  :func:`publish` renames it into place with the store's publication
  (:meth:`reefdask.io.store_local.LocalStore.publish_file`): nothing ever appears under
  the final name before it is complete and verified.
* :func:`remove_stale_parts` deletes temporary files left by killed runs: those of a
  dead process on this host, and any older than ``max_age`` seconds.
* :class:`Claim` is a :mod:`reefdask.work` claim on an output (``_work/_claims/<name>``
  beside it): a second run that finds a live claim waits for the output instead of
  computing it again. Unlike the lock files of the reference practice, a claim expires:
  it is stale when its process is dead (same host) or when it was not renewed for
  ``ttl`` seconds, and a stale claim is taken over by exactly one waiter.

Examples
--------
>>> p = part_path("/data/imagery/L15-0001E-0002N.tif")
>>> p.parent.as_posix(), p.name.startswith(".L15-0001E-0002N.tif.part-")
('/data/imagery', True)
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from reefdask.io.store import HOST, is_stale_temporary, temp_name
from reefdask.io.store_local import LocalStore
from reefdask.work import Claims

if TYPE_CHECKING:
    from reefdask.work import Claim as WorkClaim

__all__ = ["part_path", "publish", "remove_stale_parts", "Claim", "WORK_DIR"]

#: the work layer's folder beside outputs: completion records and claims
WORK_DIR = "_work"

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
    """An expiring claim on an output path: a :mod:`reefdask.work` claim beside it.

    The claim is the versioned object ``_work/_claims/<name>`` in the output's folder
    (created if absent, renewed and released on its generation). An expired claim, or one
    of a dead process on this host, is taken over by a conditional update on the
    generation that was read, so of two waiters that both judge it stale exactly one
    holds it (the ``O_EXCL`` file this replaces was unlinked and recreated, which let
    both hold it). :meth:`check` proves it is still held right before publishing.
    """

    def __init__(self, output: str | Path, ttl: float = 1800.0) -> None:
        output = Path(output)
        self.output, self.ttl = output, float(ttl)
        self.claims = Claims(LocalStore(output.parent), WORK_DIR, ttl=ttl)
        self.claim: WorkClaim | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the claim (taken and not released or lost)."""
        return self.claim is not None and not self.claim.lost

    @property
    def path(self) -> Path:
        """Where the claim lives (a versioned object: a folder of generations)."""
        return Path(self.claims.store.url_for(self.claims.key(self.output.name)))

    def acquire(self) -> bool:
        """Take the claim if it is free or stale; False while another live run holds it."""
        self.claim = self.claims.acquire(self.output.name)
        return self.claim is not None

    def check(self) -> None:
        """Raise :class:`~reefdask.work.ClaimLostError` unless the claim is still held (renewing it)."""
        if self.claim is None:
            raise RuntimeError("Claim.check() before acquire()")
        self.claim.check()

    def release(self) -> None:
        """Drop the claim if this process holds it (and what it leaves on disk)."""
        if self.claim is not None:
            if self.claim.release():
                self.claims.store.purge(self.claim.key)
            self.claim = None

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
