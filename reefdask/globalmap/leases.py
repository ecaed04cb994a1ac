"""Leases that expire: which job works which quad, coordinated only through the store.

Two layers:

* a **versioned store** (:class:`VersionedStore`): small objects with a generation number
  and the conditional operations of Google Cloud Storage -- write if the generation is
  still ``g`` (``0``: only if absent), delete if it is still ``g``. :class:`GCSVersionedStore`
  uses GCS itself (``ifGenerationMatch``, through google-cloud-storage, because gcsfs only
  exposes create-if-absent); :class:`LocalVersionedStore` gives local and shared
  filesystems the same semantics with one file per generation, published by ``os.link``
  (atomic and exclusive, also on NFS);
* **leases** (:class:`Leases`): a lease is an object holding its owner, a nonce and an
  expiry time. A job creates it if absent, renews it by a conditional write on the
  generation it holds, and releases it by a conditional delete. An expired lease (a
  crashed job) is taken over by a conditional write on the generation that was read, so
  of several jobs trying at once exactly one wins, and no quad is held by two live jobs.

Expiry uses the writers' wall clocks: clocks must agree to well within the lease duration.

Examples
--------
>>> import tempfile
>>> store = LocalVersionedStore(tempfile.mkdtemp())
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
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from reefdask.errors import StoreError
from reefdask.storage import is_local, storage_options_for, strip_protocol

__all__ = [
    "Versioned",
    "VersionedStore",
    "LocalVersionedStore",
    "GCSVersionedStore",
    "open_versioned_store",
    "Lease",
    "Leases",
    "LeaseKeeper",
]


@dataclass(frozen=True)
class Versioned:
    """An object's bytes and the generation they were read at."""

    data: bytes
    generation: int


class VersionedStore(Protocol):
    """Small objects with generations and conditional writes (GCS semantics)."""

    def read(self, key: str) -> Versioned | None:
        """The object, or None when absent."""
        ...

    def write(self, key: str, data: bytes, *, if_generation_match: int) -> int | None:
        """Write if the current generation is ``if_generation_match`` (0: absent); new generation or None."""
        ...

    def delete(self, key: str, *, if_generation_match: int) -> bool:
        """Delete if the current generation matches; whether it was deleted."""
        ...

    def keys(self) -> list[str]:
        """Keys of the objects that exist."""
        ...


class LocalVersionedStore:
    """GCS-style conditional objects on a local or shared filesystem.

    Key ``k`` is a folder ``root/k/`` of files named by generation; the highest is the
    object (an empty file marks a deletion). A write links a complete temporary file to
    ``head + 1``: ``os.link`` fails if that name exists, so of concurrent writers on one
    generation exactly one wins; older generations are then removed.
    """

    def __init__(self, root: str) -> None:
        self.root = strip_protocol(root)

    def __reduce__(self) -> tuple[Any, ...]:
        return (LocalVersionedStore, (self.root,))

    def _dir(self, key: str) -> str:
        return os.path.join(self.root, key)

    def _generations(self, key: str) -> list[int]:
        try:
            names = os.listdir(self._dir(key))
        except FileNotFoundError:
            return []
        return sorted(int(n) for n in names if n.isdigit())

    def read(self, key: str) -> Versioned | None:
        """The newest generation, or None when absent or deleted."""
        for _ in range(20):
            gens = self._generations(key)
            if not gens:
                return None
            try:
                with open(os.path.join(self._dir(key), f"{gens[-1]:012d}"), "rb") as f:
                    data = f.read()
            except FileNotFoundError:  # superseded and removed while we listed: read again
                continue
            return Versioned(data, gens[-1]) if data else None
        raise StoreError(f"Lease {self._dir(key)} keeps changing; check that its filesystem is not failing.")

    def _current(self, key: str) -> tuple[int, int]:
        """``(head generation, live generation or 0 when absent/deleted)``."""
        v = self.read(key)
        gens = self._generations(key)
        head = gens[-1] if gens else 0
        return head, (0 if v is None else v.generation)

    def write(self, key: str, data: bytes, *, if_generation_match: int) -> int | None:
        """Conditional write; see :class:`VersionedStore`."""
        if not data:
            raise StoreError("Versioned objects cannot be empty; an empty file marks a deletion.")
        return self._link(key, data, if_generation_match)

    def delete(self, key: str, *, if_generation_match: int) -> bool:
        """Conditional delete: a newer, empty generation."""
        return if_generation_match > 0 and self._link(key, b"", if_generation_match) is not None

    def _link(self, key: str, data: bytes, expected: int) -> int | None:
        head, live = self._current(key)
        if live != expected:
            return None
        new = head + 1
        folder = self._dir(key)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".tmp-{uuid.uuid4().hex}")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, os.path.join(folder, f"{new:012d}"))
        except FileExistsError:
            return None
        finally:
            os.unlink(tmp)
        gens = self._generations(key)
        if gens and gens[-1] != new:  # a writer that read before a removal: lost, not the head
            _unlink_quiet(os.path.join(folder, f"{new:012d}"))
            return None
        for g in gens[:-1]:
            _unlink_quiet(os.path.join(folder, f"{g:012d}"))
        return new

    def keys(self) -> list[str]:
        """Keys whose newest generation is not a deletion."""
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        return [n for n in names if not n.startswith(".") and self.read(n) is not None]


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class GCSVersionedStore:
    """Conditional objects in a GCS bucket under a prefix (``gs://bucket/prefix``)."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        bucket, _, prefix = str(url).split("://", 1)[1].partition("/")
        self.url = url
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self.storage_options = storage_options_for(url, storage_options)
        self._bucket: Any = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (GCSVersionedStore, (self.url, self.storage_options))

    @property
    def bucket(self) -> Any:
        """The google-cloud-storage bucket, made on first use."""
        if self._bucket is None:
            self._bucket = _gcs_client(self.storage_options).bucket(self.bucket_name)
        return self._bucket

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def read(self, key: str) -> Versioned | None:
        """The object and its generation (one request), or None."""
        from google.api_core import exceptions as gexc

        blob = self.bucket.blob(self._name(key))
        try:
            data = blob.download_as_bytes()
        except gexc.NotFound:
            return None
        return Versioned(data, int(blob.generation))

    def write(self, key: str, data: bytes, *, if_generation_match: int) -> int | None:
        """Upload with ``ifGenerationMatch``; None on HTTP 412."""
        from google.api_core import exceptions as gexc

        blob = self.bucket.blob(self._name(key))
        try:
            blob.upload_from_string(data, content_type="application/json", if_generation_match=if_generation_match)
        except gexc.PreconditionFailed:
            return None
        return int(blob.generation)

    def delete(self, key: str, *, if_generation_match: int) -> bool:
        """Delete with ``ifGenerationMatch``."""
        from google.api_core import exceptions as gexc

        try:
            self.bucket.blob(self._name(key)).delete(if_generation_match=if_generation_match)
        except (gexc.PreconditionFailed, gexc.NotFound):
            return False
        return True

    def keys(self) -> list[str]:
        """Keys under the prefix (one listing)."""
        start = len(self.prefix) + 1 if self.prefix else 0
        blobs = self.bucket.client.list_blobs(self.bucket_name, prefix=self._name(""))
        return sorted(b.name[start:] for b in blobs)


def _gcs_client(options: dict[str, Any]) -> Any:
    """A google-cloud-storage client from gcsfs-style ``storage_options``."""
    from google.cloud import storage

    kwargs: dict[str, Any] = {"project": options.get("project")}
    if options.get("endpoint_url"):
        kwargs["client_options"] = {"api_endpoint": options["endpoint_url"]}
    token = options.get("token")
    if token == "anon":
        from google.auth.credentials import AnonymousCredentials

        kwargs["credentials"] = AnonymousCredentials()
        kwargs["project"] = kwargs["project"] or "anonymous"
    elif isinstance(token, str) and os.path.exists(token):
        return storage.Client.from_service_account_json(token, project=kwargs["project"])
    return storage.Client(**kwargs)


def open_versioned_store(url: str, storage_options: dict[str, Any] | None = None) -> VersionedStore:
    """The versioned store for a folder or ``gs://`` URL."""
    if is_local(url):
        return LocalVersionedStore(url)
    if str(url).startswith(("gs://", "gcs://")):
        return GCSVersionedStore(url, storage_options)
    raise StoreError(
        f"Leases need a store with conditional writes; {url} is neither a local/shared folder nor gs://. "
        "Put the run on a filesystem path or a GCS bucket."
    )


@dataclass
class Lease:
    """A lease held by this process: ``generation`` is what renew/release condition on."""

    key: str
    owner: str
    nonce: str
    expires: float
    generation: int


class Leases:
    """Acquire, renew and release expiring leases in a :class:`VersionedStore`."""

    def __init__(self, store: VersionedStore, owner: str, ttl: float = 300.0) -> None:
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
            gen = self.store.write(key, data, if_generation_match=0)
            if gen is not None:
                return Lease(key, self.owner, nonce, expires, gen)
            current = self.store.read(key)
            if current is None:  # released in between: try creating again
                continue
            info = json.loads(current.data)
            if info.get("nonce") == nonce:  # our own write, whose reply was lost and retried
                return Lease(key, self.owner, nonce, float(info["expires"]), current.generation)
            if float(info.get("expires", 0)) > time.time():
                return None
            gen = self.store.write(key, data, if_generation_match=current.generation)
            if gen is not None:
                return Lease(key, self.owner, nonce, expires, gen)
            return None  # another job took it over first
        return None

    def renew(self, lease: Lease) -> bool:
        """Extend ``lease``; False when it was lost (expired and taken over)."""
        data, expires = self._body(lease.nonce)
        gen = self.store.write(lease.key, data, if_generation_match=lease.generation)
        if gen is None:
            current = self.store.read(lease.key)
            if current is None or json.loads(current.data).get("nonce") != lease.nonce:
                return False
            gen, expires = current.generation, float(json.loads(current.data)["expires"])
        lease.generation, lease.expires = gen, expires
        return True

    def release(self, lease: Lease) -> bool:
        """Give ``lease`` back; False when it was no longer ours."""
        return self.store.delete(lease.key, if_generation_match=lease.generation)

    def held(self) -> list[dict[str, Any]]:
        """Every lease in the store: key, owner, expiry and whether it is still live."""
        now = time.time()
        out = []
        for key in self.store.keys():
            v = self.store.read(key)
            if v is not None:
                info = json.loads(v.data)
                out.append(
                    {"key": key, "owner": info.get("owner"), "expires": info.get("expires"),
                     "live": float(info.get("expires", 0)) > now}
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

    def release(self, key: str) -> None:
        """Stop renewing ``key`` and release it."""
        with self._lock:
            lease = self.held.pop(key, None)
        if lease is not None and key not in self.lost:
            self.leases.release(lease)

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
