"""Leases that expire: which job works which quad, coordinated only through the store.

Leases are versioned objects of a :class:`~reefdask.io.store.Store` (GCS generation
preconditions, or one ``os.link``-published file per generation on local and shared
filesystems). A lease is an object holding its owner, a nonce and an expiry time. A job
creates it if absent, renews it by a conditional write on the generation it holds, and
releases it by a conditional delete. An expired lease (a crashed job) is taken over by a
conditional write on the generation that was read, so of several jobs trying at once
exactly one wins, and no quad is held by two live jobs.

Expiry uses the writers' wall clocks: clocks must agree to well within the lease duration.

Examples
--------
>>> import tempfile
>>> store = open_store(tempfile.mkdtemp())
>>> a, b = Leases(store, "job-a", ttl=60), Leases(store, "job-b", ttl=60)
>>> lease = a.acquire("L15-0001E-0001N")
>>> lease.owner, b.acquire("L15-0001E-0001N")
('job-a', None)
>>> a.renew(lease), a.release(lease)
(True, True)
>>> b.acquire("L15-0001E-0001N").owner
'job-b'
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from reefdask.errors import StoreError
from reefdask.io.store import Store, open_store
from reefdask.io.versioned import (
    GCSVersionedStore,
    LocalVersionedStore,
    Versioned,
    VersionedStore,
    open_versioned_store,
)

__all__ = [
    "Versioned",
    "VersionedStore",
    "LocalVersionedStore",
    "GCSVersionedStore",
    "open_versioned_store",
    "open_store",
    "Lease",
    "Leases",
    "LeaseKeeper",
]


@dataclass
class Lease:
    """A lease held by this process: ``generation`` is what renew/release condition on."""

    key: str
    owner: str
    nonce: str
    expires: float
    generation: int


class Leases:
    """Acquire, renew and release expiring leases in a :class:`~reefdask.io.store.Store`."""

    def __init__(self, store: Store, owner: str, ttl: float = 300.0) -> None:
        if ttl <= 0:
            raise StoreError(f"Lease duration must be positive, not {ttl}; use e.g. 300 seconds.")
        self.store, self.owner, self.ttl = store, owner, float(ttl)

    def _body(self, nonce: str) -> tuple[bytes, float]:
        expires = time.time() + self.ttl
        body = {"owner": self.owner, "nonce": nonce, "expires": expires, "ttl": self.ttl}
        return json.dumps(body).encode(), expires

    def acquire(self, key: str) -> Lease | None:
        """Take ``key`` if free or expired; None when a live lease holds it."""
        nonce = uuid.uuid4().hex
        for _ in range(3):
            data, expires = self._body(nonce)
            gen = self.store.create(key, data)
            if gen is not None:
                return Lease(key, self.owner, nonce, expires, gen)
            current = self.store.get(key)
            if current is None:  # released in between: try creating again
                continue
            info = json.loads(current.data)
            if info.get("nonce") == nonce:  # our own write, whose reply was lost and retried
                return Lease(key, self.owner, nonce, float(info["expires"]), current.generation)
            if float(info.get("expires", 0)) > time.time():
                return None
            gen = self.store.update(key, data, generation=current.generation)
            if gen is not None:
                return Lease(key, self.owner, nonce, expires, gen)
            return None  # another job took it over first
        return None

    def renew(self, lease: Lease) -> bool:
        """Extend ``lease``; False when it was lost (expired and taken over)."""
        data, expires = self._body(lease.nonce)
        gen = self.store.update(lease.key, data, generation=lease.generation)
        if gen is None:
            current = self.store.get(lease.key)
            if current is None or json.loads(current.data).get("nonce") != lease.nonce:
                return False
            gen, expires = current.generation, float(json.loads(current.data)["expires"])
        lease.generation, lease.expires = gen, expires
        return True

    def release(self, lease: Lease) -> bool:
        """Give ``lease`` back; False when it was no longer ours."""
        return self.store.delete(lease.key, generation=lease.generation)

    def forget(self, key: str) -> None:
        """Drop what is left of a released lease whose quad is finished (local tombstones)."""
        self.store.purge(key)

    def held(self) -> list[dict[str, Any]]:
        """Every lease in the store: key, owner, expiry and whether it is still live."""
        now = time.time()
        out = []
        for key in self.store.list():
            v = self.store.get(key)
            if v is not None:
                info = json.loads(v.data)
                out.append(
                    {
                        "key": key,
                        "owner": info.get("owner"),
                        "expires": info.get("expires"),
                        "live": float(info.get("expires", 0)) > now,
                    }
                )
        return out


class LeaseKeeper:
    """Renew a set of leases in a background thread every ``ttl / 3`` seconds.

    ``lost`` collects the keys whose renewal failed. Use as a context manager.
    """

    def __init__(self, leases: Leases, interval: float | None = None) -> None:
        self.leases = leases
        self.interval = leases.ttl / 3 if interval is None else interval
        self.held: dict[str, Lease] = {}
        self.lost: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reefdask-lease-keeper", daemon=True)

    def add(self, lease: Lease) -> None:
        """Keep ``lease`` renewed."""
        with self._lock:
            self.held[lease.key] = lease

    def release(self, key: str, finished: bool = False) -> None:
        """Stop renewing ``key`` and release it; ``finished``: its quad has a status now."""
        with self._lock:
            lease = self.held.pop(key, None)
        if lease is not None and key not in self.lost:
            self.leases.release(lease)
            if finished:
                self.leases.forget(key)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                current = list(self.held.values())
                for lease in current:
                    try:
                        ok = self.leases.renew(lease)
                    except Exception:  # a transient store error: try again next round
                        ok = lease.expires > time.time()
                    if not ok:
                        self.lost.add(lease.key)
                        self.held.pop(lease.key, None)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for key in list(self.held):
            self.release(key)
