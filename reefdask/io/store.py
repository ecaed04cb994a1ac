"""One store object: a root URL and its options, opened once and passed down.

Every stage reads and writes through a :class:`Store`: it is opened once from a URL and
its ``storage_options`` by :func:`open_store`, handed down as an object (never a URL
string re-resolved at every level) and pickled to Dask workers. Like zarr-python 3's
``Store`` it *declares* what it can do, and code above it asks the store instead of
sniffing URL strings (``store.local``, ``store.scope``).

Two kinds of object live in a store:

* **data objects**, written by :meth:`Store.publish` (all or nothing: a failed or
  unverified write never appears under its final name) and read with
  :meth:`Store.read` / listed with :meth:`Store.list`;
* **versioned objects** (small records, claims, leases), written by
  :meth:`Store.create` (only if absent) and :meth:`Store.update` (only if the
  generation is still the one read), read with :meth:`Store.get`, removed by
  :meth:`Store.delete`. A key is used as one kind or the other, never both.

Temporaries are named ``.<name>.part-<host>-<pid>-<hex8>`` beside their key (or under a
temporary key on a bucket): :meth:`Store.list` never returns them, and
:meth:`Store.remove_stale` deletes those of dead processes (this host) or older than a day.

Backends: :class:`~reefdask.io.store_local.LocalStore` (local disk),
:class:`~reefdask.io.store_local.SharedDiskStore` (NFS, Lustre),
:class:`~reefdask.io.store_memory.MemoryStore` (``memory://``, one process) and
:class:`~reefdask.io.store_gcs.GCSStore` (``gs://``, GCS generation preconditions).

Examples
--------
>>> import tempfile
>>> store = open_store(tempfile.mkdtemp())
>>> store.publish("a/b.json", b"{}")
>>> store.list(), store.read("a/b.json"), store.local
(['a/b.json'], b'{}', True)
>>> g = store.create("lease", b"mine")
>>> store.create("lease", b"yours") is None, store.update("lease", b"v2", generation=g) == g + 1
(True, True)
>>> open_store("ftp://host/x")
Traceback (most recent call last):
...
reefdask.errors.StoreError: Cannot open a store at 'ftp://host/x': ...
"""

from __future__ import annotations

import os
from typing import Any

from reefdask.errors import StoreError
from reefdask.io.store_base import (
    HOST,
    SCHEMES,
    Check,
    Store,
    Versioned,
    is_stale_temporary,
    is_temporary,
    redact,
    temp_name,
)
from reefdask.io.store_gcs import GCSStore
from reefdask.io.store_local import LocalStore, SharedDiskStore, on_shared_filesystem
from reefdask.io.store_memory import MemoryStore

__all__ = [
    "HOST",
    "Check",
    "Store",
    "Versioned",
    "LocalStore",
    "SharedDiskStore",
    "MemoryStore",
    "GCSStore",
    "open_store",
    "store_for",
    "temp_name",
    "is_temporary",
    "is_stale_temporary",
    "redact",
]


def store_for(url: str, storage_options: dict[str, Any] | None = None, **kwargs: Any) -> tuple[Store, str]:
    """The store of ``url``'s folder and the key of its last part (for one-object callers).

    >>> store, key = store_for("memory://bucket/run/a.json")
    >>> store.url, key
    ('memory://bucket/run', 'a.json')
    """
    s = os.fspath(url) if isinstance(url, os.PathLike) else str(url)
    parent, _, name = s.rstrip("/").rpartition("/")
    if not name or parent.endswith(":/") or (not parent and "://" in s):
        raise StoreError(f"{s!r} names no object; give a path or URL ending in a file name.")
    return open_store(parent or ".", storage_options, **kwargs), name


def open_store(
    url: str | os.PathLike[str] | Store,
    storage_options: dict[str, Any] | None = None,
    *,
    shared: bool | None = None,
    fsync: bool = True,
) -> Store:
    """The store for a local path, ``file://``, ``memory://`` or ``gs://`` URL.

    ``shared`` picks the shared-disk variant of a local path (safe on NFS, see
    :class:`~reefdask.io.store_local.SharedDiskStore`); the default decides from the path's
    file system. ``fsync=False`` skips flushing local writes to disk (a killed process
    still leaves nothing half-written; a power loss may).
    """
    if isinstance(url, Store):
        return url
    s = os.fspath(url) if isinstance(url, os.PathLike) else str(url)
    scheme = s.split("://", 1)[0].lower() if "://" in s else ""
    if scheme in ("", "file", "local"):
        path = s.split("://", 1)[1] if scheme else s
        shared = on_shared_filesystem(path) if shared is None else shared
        return (SharedDiskStore if shared else LocalStore)(path, fsync=fsync)
    if scheme == "memory":
        return MemoryStore(s)
    if scheme in ("gs", "gcs"):
        return GCSStore(s, storage_options)
    raise StoreError(
        f"Cannot open a store at {s!r}: the scheme {scheme + '://'!r} is not supported. "
        f"Use one of: {', '.join(SCHEMES)}."
    )
