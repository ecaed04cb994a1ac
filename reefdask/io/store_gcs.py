"""The ``gs://`` store: Google Cloud Storage, with its generation preconditions.

Data objects: :meth:`GCSStore.publish` spools the bytes to a local temporary file
(hashing crc32c as they arrive), runs the check on that complete local copy, uploads it
to a temporary key beside the final one, verifies the uploaded size and crc32c, and only
then copies it into place (a server-side copy: the final object appears complete or not
at all) and deletes the temporary. A stream that fails halfway never reaches the bucket
(fsspec's ``with fs.open(path, "wb")`` would commit it on ``__exit__``).

Versioned objects use google-cloud-storage's ``ifGenerationMatch`` (gcsfs exposes only
create-if-absent): ``create`` is an upload with ``if_generation_match=0``, ``update``
one with the generation read, ``delete`` a delete with it.

``STORAGE_EMULATOR_HOST`` (a local emulator) is honoured as
:func:`~reefdask.io.store_base.storage_options_for` does: its endpoint and anonymous
credentials unless the options say otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import threading
from collections.abc import Iterable
from typing import Any, BinaryIO, ClassVar, Literal

from reefdask.errors import InputNotFoundError, StoreError
from reefdask.io.spool import file_crc32c, spool
from reefdask.io.store_base import (
    Check,
    Store,
    Versioned,
    check_key,
    is_stale_temporary,
    is_temporary,
    nonempty,
    storage_options_for,
    temp_name,
)

__all__ = ["GCSStore", "gcs_client"]


_CLIENTS: dict[tuple[int, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def gcs_client(options: dict[str, Any]) -> Any:
    """A google-cloud-storage client from gcsfs-style ``storage_options`` (one per process and options).

    Making a client looks up credentials, so every store of one process shares it.
    """
    key = (os.getpid(), json.dumps(options, sort_keys=True, default=repr))
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = _new_client(options)
    return client


def _new_client(options: dict[str, Any]) -> Any:
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


class GCSStore(Store):
    """Objects under ``gs://bucket/prefix``."""

    scope: ClassVar[Literal["process", "host", "cluster"]] = "cluster"
    prefix_listing: ClassVar[bool] = True

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        s = str(url)
        if "://" not in s or not s.split("://", 1)[1].strip("/"):
            raise StoreError(f"{url!r} names no bucket; use gs://bucket/prefix.")
        bucket, _, prefix = s.split("://", 1)[1].partition("/")
        self.bucket_name, self.prefix = bucket, prefix.strip("/")
        self.url = f"gs://{bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self._options = storage_options_for(self.url, storage_options)
        self._bucket: Any = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (GCSStore, (self.url, self._options))

    @property
    def bucket(self) -> Any:
        """The google-cloud-storage bucket, made on first use (not pickled)."""
        if self._bucket is None:
            self._bucket = gcs_client(self._options).bucket(self.bucket_name)
        return self._bucket

    def _name(self, key: str, empty_ok: bool = False) -> str:
        k = check_key(key, empty_ok=empty_ok)
        return "/".join(p for p in (self.prefix, k) if p)

    # -- addressing ------------------------------------------------------------------
    def child(self, *parts: str) -> GCSStore:
        """The store rooted at ``prefix/parts...``."""
        return GCSStore(self.url_for("/".join(parts)), self._options)

    def url_for(self, key: str = "") -> str:
        """``gs://bucket/prefix/key``."""
        k = check_key(key, empty_ok=True)
        return f"{self.url}/{k}" if k else self.url

    @property
    def fs(self) -> Any:
        """gcsfs, configured like :attr:`storage_options`."""
        import fsspec

        return fsspec.filesystem("gcs", **self._options)

    @property
    def storage_options(self) -> dict[str, Any]:
        """The options for xarray/zarr/fsspec (emulator endpoint included when set)."""
        return dict(self._options)

    # -- data objects ----------------------------------------------------------------
    def read(self, key: str) -> bytes:
        """The object's bytes (one request)."""
        from google.api_core import exceptions as gexc

        try:
            return bytes(self.bucket.blob(self._name(key)).download_as_bytes())
        except gexc.NotFound as err:
            raise InputNotFoundError(f"{self.url_for(key)} does not exist; publish it first.") from err

    def exists(self, key: str) -> bool:
        """An object, or any object below ``key/``."""
        name = self._name(key, empty_ok=True)
        if name and self.bucket.blob(name).exists():
            return True
        below = self.bucket.client.list_blobs(
            self.bucket_name, prefix=f"{name}/" if name else "", max_results=1
        )
        return any(True for _ in below)

    def _blobs(self, prefix: str) -> Iterable[Any]:
        p = str(prefix).lstrip("/")
        full = f"{self.prefix}/{p}" if self.prefix else p
        return self.bucket.client.list_blobs(self.bucket_name, prefix=full)

    def _key(self, name: str) -> str:
        return name[len(self.prefix) + 1 :] if self.prefix else name

    def list(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix`` (one listing), temporaries left out."""
        return sorted(self._key(b.name) for b in self._blobs(prefix) if not is_temporary(b.name))

    def publish(
        self, key: str, data: bytes | Iterable[bytes] | BinaryIO, *, check: Check | None = None
    ) -> None:
        """Spool + check locally, upload to a temporary key, verify, copy into place.

        Bytes already in memory without a check go up in one request whose crc32c the
        server verifies before it creates the object (records, statuses: one request).
        """
        name = self._name(key)
        if isinstance(data, (bytes, bytearray, memoryview)) and check is None:
            self.bucket.blob(name).upload_from_string(bytes(data), checksum="crc32c")
            return
        with spool(data, check) as (local, size, crc):
            self._upload_verified(key, local, size, crc)

    def publish_file(
        self, key: str, local_path: str, *, check: Check | None = None, move: bool = False
    ) -> None:
        """Check the local file itself, then upload it verified (no second local copy)."""
        try:
            if check is not None:
                check(local_path)
            self._upload_verified(key, local_path, os.path.getsize(local_path), file_crc32c(local_path))
        finally:
            if move:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(local_path)

    def _upload_verified(self, key: str, local: str, size: int, crc: str | None) -> None:
        """Upload to a temporary key, compare size and crc32c, copy into place, drop the temporary."""
        from google.api_core import exceptions as gexc

        name = self._name(key)
        tmp = self.bucket.blob(posixpath.join(posixpath.dirname(name), temp_name(posixpath.basename(name))))
        try:
            tmp.upload_from_filename(local, content_type="application/octet-stream")  # sets size, crc32c
            if int(tmp.size) != size or (crc is not None and tmp.crc32c and tmp.crc32c != crc):
                raise StoreError(
                    f"Upload of {self.url_for(key)} arrived with {tmp.size} bytes (crc32c {tmp.crc32c}),"
                    f" not {size} ({crc}); nothing was published. Try again."
                )
            self.bucket.copy_blob(tmp, self.bucket, name)
        finally:
            try:
                tmp.delete()
            except gexc.NotFound:
                pass

    def remove(self, key: str, *, recursive: bool = False) -> None:
        """Remove an object, or every object below ``key/`` with ``recursive``."""
        from google.api_core import exceptions as gexc

        name = self._name(key, empty_ok=recursive)
        blobs = [self.bucket.blob(name)] if name else []
        if recursive:
            blobs += list(self._blobs(f"{check_key(key, empty_ok=True)}/" if key.strip("/") else ""))
        for blob in blobs:
            try:
                blob.delete()
            except gexc.NotFound:
                pass

    def remove_stale(self, prefix: str = "", *, max_age: float = 86400.0) -> int:
        """Delete temporaries of dead writers (this host) or older than ``max_age``."""
        from google.api_core import exceptions as gexc

        removed = 0
        for blob in self._blobs(prefix):
            updated = blob.updated.timestamp() if blob.updated is not None else 0.0
            if is_stale_temporary(blob.name, updated, max_age):
                try:
                    blob.delete()
                    removed += 1
                except gexc.NotFound:
                    pass
        return removed

    # -- versioned objects -------------------------------------------------------------
    def get(self, key: str) -> Versioned | None:
        """The object and its generation (one request), or None."""
        from google.api_core import exceptions as gexc

        blob = self.bucket.blob(self._name(key))
        try:
            data = blob.download_as_bytes()
        except gexc.NotFound:
            return None
        return Versioned(data, int(blob.generation))

    def _upload(self, key: str, data: bytes, generation: int) -> int | None:
        from google.api_core import exceptions as gexc

        blob = self.bucket.blob(self._name(key))
        try:
            blob.upload_from_string(data, content_type="application/json", if_generation_match=generation)
        except gexc.PreconditionFailed:
            return None
        return int(blob.generation)

    def create(self, key: str, data: bytes) -> int | None:
        """Upload with ``ifGenerationMatch=0``; None on HTTP 412."""
        return self._upload(key, nonempty(data), 0)

    def update(self, key: str, data: bytes, *, generation: int) -> int | None:
        """Upload with ``ifGenerationMatch=generation``; None on HTTP 412."""
        return self._upload(key, nonempty(data), generation) if generation > 0 else None

    def delete(self, key: str, *, generation: int) -> bool:
        """Delete with ``ifGenerationMatch=generation``."""
        from google.api_core import exceptions as gexc

        blob = self.bucket.get_blob(self._name(key)) if generation > 0 else None
        if blob is None or int(blob.generation) != generation:  # also where an emulator ignores it
            return False
        try:
            blob.delete(if_generation_match=generation)
        except (gexc.PreconditionFailed, gexc.NotFound):
            return False
        return True
