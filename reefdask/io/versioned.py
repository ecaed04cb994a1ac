"""Small objects with generations and the conditional writes of Google Cloud Storage.

A **versioned store** writes an object only if its generation is still ``g`` (``0``:
only if absent) and deletes it only if it is still ``g``. :class:`GCSVersionedStore` uses
GCS itself (``ifGenerationMatch`` through google-cloud-storage, because gcsfs exposes only
create-if-absent); :class:`LocalVersionedStore` gives local and shared filesystems the
same semantics with one file per generation, published by ``os.link`` (atomic and
exclusive, also on NFS). :mod:`reefdask.globalmap.leases` builds expiring leases on it.

Examples
--------
>>> import tempfile
>>> store = LocalVersionedStore(tempfile.mkdtemp())
>>> g = store.write("k", b"one", if_generation_match=0)
>>> store.write("k", b"two", if_generation_match=0) is None    # exists already
True
>>> store.write("k", b"two", if_generation_match=g) == g + 1   # compare-and-swap
True
>>> store.read("k").data
b'two'
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from reefdask.errors import StoreError
from reefdask.io.storage import is_local, storage_options_for, strip_protocol

__all__ = ["Versioned", "VersionedStore", "LocalVersionedStore", "GCSVersionedStore", "open_versioned_store"]


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

    def _head(self, key: str) -> tuple[int, bytes]:
        """``(newest generation, its bytes)`` from ONE listing; ``(0, b"")`` when absent.

        Head and data must come from the same listing: a writer that compared a stale
        read with a newer head would link ``head + 1`` on a generation it never saw.
        """
        for _ in range(20):
            gens = self._generations(key)
            if not gens:
                return 0, b""
            try:
                with open(os.path.join(self._dir(key), f"{gens[-1]:012d}"), "rb") as f:
                    return gens[-1], f.read()
            except FileNotFoundError:  # superseded and removed while we listed: read again
                continue
        raise StoreError(f"Lease {self._dir(key)} keeps changing; check that its filesystem is not failing.")

    def read(self, key: str) -> Versioned | None:
        """The newest generation, or None when absent or deleted."""
        head, data = self._head(key)
        return Versioned(data, head) if data else None

    def _current(self, key: str) -> tuple[int, int]:
        """``(head generation, live generation or 0 when absent/deleted)``, consistently."""
        head, data = self._head(key)
        return head, (head if data else 0)

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

    def purge(self, key: str) -> None:
        """Remove a deleted key's folder (its tombstone) so listings stay small.

        Only for keys whose work is over: a writer racing with the removal may see its new
        generation vanish, so callers re-check the work's own record (the quad's status)
        after every acquisition, which the job loop does.
        """
        import shutil

        v = self.read(key)
        if v is None:
            shutil.rmtree(self._dir(key), ignore_errors=True)


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
            blob.upload_from_string(
                data, content_type="application/json", if_generation_match=if_generation_match
            )
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
