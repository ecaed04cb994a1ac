"""Claims: which worker works which unit, coordinated only through the store, with expiry.

A claim is a versioned object ``<prefix>/_claims/<unit>`` (:meth:`Store.create`,
:meth:`Store.update`, :meth:`Store.delete` on generations) holding the owner, a token
(a nonce) and an expiry time. Its whole life:

* **acquire**: create it if absent. If it exists and is live, someone else works the
  unit: return None. If it has expired (a killed or hung worker), or its holder is a dead
  process on this host, take it over by a conditional update *on the generation that was
  read*: of two waiters that both judge it stale, exactly one update succeeds, so never
  two live holders (the O_EXCL claim of :mod:`reefdask.acquire.atomic` used to unlink a
  stale file and recreate it, which let two waiters both hold it).
* **renew**: a conditional update on the generation held, pushing the expiry ``ttl``
  ahead; :meth:`Claim.keep` renews in a background thread every ``ttl / 3`` while the
  work runs.
* **check** (fencing): right before a completion record is written,
  :meth:`Claim.check` renews once more. Success proves the generation is still ours and
  gives a full ``ttl`` in which nobody can take over, so the record that follows is
  written by the only holder; failure raises :class:`ClaimLostError` and the caller
  records nothing. :meth:`Records.done` and friends call it when given ``claim=``.
* **release**: a conditional delete on the generation held (a taken-over claim is not
  deleted by its old holder).
* **fence** (for writes made elsewhere): :meth:`Claim.fence` gives a small picklable
  :class:`Fence` for a Dask worker that writes a unit's output while the holder keeps the
  claim renewed; :meth:`Fence.check` reads the claim once and passes only while it still
  carries the holder's token with at least ``margin`` seconds to run, so nobody can take
  it over during a write shorter than that.

Clock assumption: expiry compares the writers' wall clocks, so their clocks must agree to
well within the ``ttl`` (NTP-synchronised hosts agree to milliseconds; the default ``ttl``
is 10 minutes), and one record write must take less than ``ttl``.

Examples
--------
>>> from reefdask.io.store import open_store
>>> store = open_store("memory://doc-claims")
>>> a, b = Claims(store, "_work", owner="job-a"), Claims(store, "_work", owner="job-b")
>>> claim = a.acquire("scene-1")
>>> claim.owner, b.acquire("scene-1")
('job-a', None)
>>> claim.check()                                  # still ours: fine to record
>>> claim.release()
True
>>> b.acquire("scene-1").owner
'job-b'
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reefdask.errors import ConfigError, ReefdaskError

if TYPE_CHECKING:
    from reefdask.io.store import Store

__all__ = ["ClaimLostError", "Claim", "Claims", "CLAIMS_DIR", "Fence", "keep"]

CLAIMS_DIR = "_claims"
_HOST = socket.gethostname()


class ClaimLostError(ReefdaskError, RuntimeError):
    """A worker's claim on a unit expired and was taken over (or removed): nothing was recorded."""


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # unknown: never signal a process group
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


@dataclass
class Claim:
    """A claim held by this worker; ``generation`` is what renew/check/release condition on."""

    claims: Claims = field(repr=False)
    unit: str
    owner: str
    token: str
    expires: float
    generation: int
    lost: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def key(self) -> str:
        """The claim's store key."""
        return self.claims.key(self.unit)

    def renew(self) -> bool:
        """Push the expiry ``ttl`` ahead; False (and :attr:`lost`) when the claim is no longer ours."""
        with self._lock:  # the keep() thread and check() never race on one generation
            if self.lost:
                return False
            data, expires = self.claims.body(self.token)
            gen = _quiet(self.claims.store.update, self.key, data, generation=self.generation)
            if gen is None:
                self.lost = True
                return False
            self.generation, self.expires = gen, expires
            return True

    def check(self) -> None:
        """Prove the claim is still held (and hold it ``ttl`` longer); else raise :class:`ClaimLostError`."""
        if not self.renew():
            raise ClaimLostError(
                f"The claim on {self.unit!r} ({self.key}) was taken over after it expired "
                f"(ttl {self.claims.ttl:g} s); this worker's result is not recorded. Another worker redoes "
                "or did the unit; if this happens often, raise the claim ttl above a unit's run time."
            )

    def release(self) -> bool:
        """Give the claim back (conditional delete); False when it was no longer ours."""
        with self._lock:
            if self.lost:
                return False
            self.lost = True
            return bool(_quiet(self.claims.store.delete, self.key, generation=self.generation))

    def fence(self, margin: float | None = None) -> Fence:
        """A picklable check of this claim for another process (default ``margin``: ``ttl / 3``)."""
        return Fence(self.claims.store, self.key, self.unit, self.token, self.claims.ttl / 3 if margin is None
                     else float(margin))  # fmt: skip

    def keep(self, interval: float | None = None) -> contextlib.AbstractContextManager[list[Claim]]:
        """Renew in a background thread every ``interval`` (default ``ttl / 3``) while the block runs."""
        return keep([self], interval)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass(frozen=True)
class Fence:
    """What a worker checks before it writes a unit's output for the claim's holder.

    Reading the claim proves it is still held when it carries the holder's ``token``, is
    not stale and runs at least ``margin`` more seconds: a takeover needs it expired, so
    a write that takes less than ``margin`` cannot overlap another holder's.
    """

    store: Store
    key: str
    unit: str
    token: str
    margin: float

    def check(self) -> None:
        """Pass while the claim is provably held; else raise :class:`ClaimLostError`."""
        current = self.store.get(self.key)
        info = _parse(current.data) if current is not None else {}
        held = info.get("token") == self.token and not _stale(info)
        if not held or float(info["expires"]) - time.time() < self.margin:
            raise ClaimLostError(
                f"The claim on {self.unit!r} ({self.key}) is no longer held for {self.margin:g} s more; "
                "this worker writes nothing for it. Its holder stopped renewing it, or it was taken over."
            )

    __call__ = check


@contextlib.contextmanager
def keep(held: list[Claim], interval: float | None = None) -> Iterator[list[Claim]]:
    """Renew every claim of ``held`` (a list the block may extend) in one background thread.

    Renewal runs every ``interval`` seconds (default a third of the shortest ``ttl``); a
    claim whose renewal fails is marked :attr:`Claim.lost` and no longer renewed, so its
    :meth:`Claim.check` raises before anything is recorded.
    """
    stop = threading.Event()
    wait = min((c.claims.ttl for c in held), default=600.0) / 3 if interval is None else interval

    def loop() -> None:
        while not stop.wait(wait):
            for claim in list(held):
                try:
                    claim.renew()
                except Exception:  # a transient store error: try again next round
                    continue

    thread = threading.Thread(target=loop, name="reefdask-claim-keeper", daemon=True)
    thread.start()
    try:
        yield held
    finally:
        stop.set()
        thread.join()


class Claims:
    """Acquire expiring claims on units under ``<prefix>/_claims/`` of a store."""

    def __init__(self, store: Store, prefix: str = "_work", *, owner: str | None = None,
                 ttl: float = 600.0) -> None:  # fmt: skip
        if ttl <= 0:
            raise ConfigError(f"Claim ttl must be positive, not {ttl}; use e.g. 600 seconds.")
        if not (store.create_if_absent and store.conditional_update):
            raise ConfigError(
                f"{store!r} cannot create-if-absent and update on a generation across processes, so it "
                "cannot keep workers apart; put the output on local/shared disk, memory:// or gs://."
            )
        self.store = store
        self.prefix = prefix.strip("/")
        self.owner = owner or f"{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.ttl = float(ttl)

    def key(self, unit: str) -> str:
        """The store key of ``unit``'s claim."""
        return f"{self.prefix}/{CLAIMS_DIR}/{unit}" if self.prefix else f"{CLAIMS_DIR}/{unit}"

    def body(self, token: str) -> tuple[bytes, float]:
        """A claim body with a fresh expiry, and that expiry."""
        expires = time.time() + self.ttl
        info = {"owner": self.owner, "token": token, "expires": expires, "ttl": self.ttl,
                "host": _HOST, "pid": os.getpid()}  # fmt: skip
        return json.dumps(info).encode(), expires

    def acquire(self, unit: str) -> Claim | None:
        """Take ``unit`` if free, expired or held by a dead process here; None while it is held."""
        key, token = self.key(unit), uuid.uuid4().hex
        for _ in range(3):
            data, expires = self.body(token)
            gen = _quiet(self.store.create, key, data)
            if gen is not None:
                return Claim(self, unit, self.owner, token, expires, gen)
            current = self.store.get(key)
            if current is None:  # released in between: try creating again
                continue
            info = _parse(current.data)
            if info.get("token") == token:  # our own create, whose reply was lost and retried
                return Claim(self, unit, self.owner, token, float(info["expires"]), current.generation)
            if not _stale(info):
                return None
            gen = _quiet(self.store.update, key, data, generation=current.generation)
            return None if gen is None else Claim(self, unit, self.owner, token, expires, gen)
        return None

    def holder(self, unit: str) -> dict[str, Any] | None:
        """The claim body on ``unit`` (owner, token, expires, host, pid) plus ``live``, or None."""
        current = self.store.get(self.key(unit))
        if current is None:
            return None
        info = _parse(current.data)
        return {**info, "live": not _stale(info), "generation": current.generation}


def _quiet(write: Any, *args: Any, **kwargs: Any) -> Any:
    """A conditional write; None (lost) when the claim's folder vanished under it.

    On local disk a finished unit's released claim is purged (its folder removed); a
    worker that raced with the purge loses its write with FileNotFoundError. Such a
    worker would find the unit finished anyway, so losing is the right answer.
    """
    try:
        return write(*args, **kwargs)
    except FileNotFoundError:
        return None


def _parse(data: bytes) -> dict[str, Any]:
    try:
        info = json.loads(data)
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def _stale(info: dict[str, Any]) -> bool:
    """Expired by the clock, or held by a process of this host that no longer exists."""
    if float(info.get("expires", 0.0)) <= time.time():
        return True
    return info.get("host") == _HOST and not _pid_alive(int(info.get("pid", -1)))
