"""fsspec URLs: one code path for local paths, ``gs://`` (gcsfs), ``memory://`` and HTTP.

Examples
--------
>>> join("gs://bucket/run", "ledger", "a.json")
'gs://bucket/run/ledger/a.json'
>>> is_local("/tmp/x") and is_local("file:///tmp/x") and not is_local("memory://x")
True
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

import fsspec

from reefdask.errors import InputNotFoundError, StoreError
from reefdask.io.store_base import storage_options_for

__all__ = [
    "join",
    "is_local",
    "is_local_fs",
    "filesystem",
    "storage_options_for",
    "exists",
    "write_bytes_atomic",
    "read_bytes",
    "strip_protocol",
]

if os.environ.get("STORAGE_EMULATOR_HOST"):
    # gcsfs asks a gRPC control API for each bucket; emulators never answer it
    os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


def join(url: str, *parts: str) -> str:
    """Join path parts onto a URL or path with ``/``."""
    return posixpath.join(str(url).rstrip("/"), *parts)


def is_local(url: str) -> bool:
    """True for plain paths and ``file://`` URLs."""
    s = str(url)
    return "://" not in s or s.startswith("file://")


def is_local_fs(fs: Any) -> bool:
    """Whether an fsspec file system is this machine's disk (ask the fs, not the URL)."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def strip_protocol(url: str) -> str:
    """A ``file://`` URL as a plain path; other URLs unchanged."""
    s = str(url)
    return s[len("file://") :] if s.startswith("file://") else s


def filesystem(url: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """``(fs, path)`` for a URL, with gcsfs configured for an emulator when one is set."""
    opts = storage_options_for(url, storage_options)
    try:
        fs, path = fsspec.core.url_to_fs(str(url), **opts)
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise StoreError(f"No filesystem for {url!r}: {err}. Install the package it names.") from err
    return fs, path


def exists(url: str, storage_options: dict[str, Any] | None = None) -> bool:
    """Whether the object or directory at ``url`` exists."""
    fs, path = filesystem(url, storage_options)
    return bool(fs.exists(path))


def read_bytes(url: str, storage_options: dict[str, Any] | None = None) -> bytes:
    """The whole content of an object; a missing one raises :class:`InputNotFoundError`."""
    fs, path = filesystem(url, storage_options)
    try:
        return bytes(fs.cat_file(path))
    except FileNotFoundError as err:
        raise InputNotFoundError(f"{url} does not exist; check the path or create it first.") from err


def write_bytes_atomic(url: str, data: bytes, storage_options: dict[str, Any] | None = None) -> None:
    """Write an object so that readers see either nothing or all of it: :meth:`Store.publish`.

    A convenience over :func:`reefdask.io.store.store_for`; code that writes many
    objects should open its store once and publish through it.
    """
    from reefdask.io.store import store_for

    store, key = store_for(url, storage_options)
    store.publish(key, data)
