"""The store interface: what every backend declares and does (see :mod:`reefdask.io.store`).

:class:`Store` (capabilities as class attributes, data objects and versioned objects),
:class:`Versioned`, and the naming of temporaries that every backend shares
(:func:`temp_name`, :func:`is_temporary`, :func:`is_stale_temporary`). Import these
from :mod:`reefdask.io.store`; backends import them from here, so that
:func:`~reefdask.io.store.open_store` can import the backends without a cycle.
"""

from __future__ import annotations

import abc
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar, Literal

from reefdask.errors import StoreError

__all__ = [
    "HOST",
    "SCHEMES",
    "Store",
    "Versioned",
    "Check",
    "temp_name",
    "is_temporary",
    "is_stale_temporary",
    "redact",
    "check_key",
    "nonempty",
    "storage_options_for",
]

SCHEMES = ("local path", "file://", "memory://", "gs://", "gcs://")
HOST = socket.gethostname().replace("-", "_")
_TEMP = re.compile(r"^\..+\.part-(?P<host>[^/]*)-(?P<pid>\d+)-[0-9a-f]{8}$")
# names of temporaries written before the store existed: removed by age only
_LEGACY = re.compile(r"(\.tmp-[0-9a-f]{32}$|^\.tmp-|^\..+\.\d+\.partial$|\.\d+\.part$)")
_SECRET = re.compile(r"token|secret|password|credential|key", re.IGNORECASE)


@dataclass(frozen=True)
class Versioned:
    """An object's bytes and the generation they were read at (``> 0``)."""

    data: bytes
    generation: int


#: a check run on a complete upload before it is published; raises to refuse it.
#: It gets a local path of the complete temporary copy.
Check = Callable[[str], None]


def temp_name(name: str) -> str:
    """The temporary beside ``name``: ``.<name>.part-<host>-<pid>-<hex8>``.

    >>> temp_name("a.json").startswith(".a.json.part-")
    True
    >>> is_temporary(temp_name("a.json")), is_temporary("a.json")
    (True, False)
    """
    return f".{name}.part-{HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def is_temporary(name: str) -> bool:
    """Whether a file name (last path part) is a temporary, of the store or of older code."""
    base = name.rsplit("/", 1)[-1]
    return bool(_TEMP.match(base) or _LEGACY.search(base))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale_temporary(name: str, mtime: float, max_age: float = 86400.0) -> bool:
    """A temporary whose writer is dead (same host) or that is older than ``max_age`` seconds."""
    base = name.rsplit("/", 1)[-1]
    m = _TEMP.match(base)
    if m is None and not _LEGACY.search(base):
        return False
    if m is not None and m["host"] == HOST and not _pid_alive(int(m["pid"])):
        return True
    return time.time() - mtime > max_age


def redact(options: dict[str, Any]) -> dict[str, Any]:
    """``storage_options`` safe to print: tokens, keys and credentials become ``'***'``.

    >>> redact({"token": "/secret/sa.json", "project": "p"})
    {'token': '***', 'project': 'p'}
    """
    return {k: "***" if _SECRET.search(str(k)) and v not in (None, "anon") else v for k, v in options.items()}


def check_key(key: str, *, empty_ok: bool = False) -> str:
    """``key`` without surrounding slashes; refuses ``..`` and (unless ``empty_ok``) ``""``."""
    k = str(key).strip("/")
    if (not k and not empty_ok) or any(p in ("..", ".") for p in k.split("/")) or "//" in k:
        raise StoreError(f"Bad store key {key!r}: use a relative 'a/b/c' path without '..'.")
    return k


def storage_options_for(url: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``storage_options`` to hand xarray/zarr/fsspec for ``url``.

    With ``STORAGE_EMULATOR_HOST`` set (a local GCS emulator), ``gs://`` URLs get the
    emulator's endpoint and anonymous credentials, whenever gcsfs was imported.
    """
    opts = dict(storage_options or {})
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if str(url).startswith(("gs://", "gcs://")) and emulator:
        opts.setdefault("endpoint_url", emulator)
        opts.setdefault("token", "anon")
        opts.setdefault("project", "reefdask")
    return opts


class Store(abc.ABC):
    """A root URL + options. Keys are ``/``-separated paths relative to the root.

    Capabilities are class attributes: ask them instead of looking at the URL.
    """

    #: writes are published all or nothing (temp + verify + rename / copy into place)
    atomic_publish: ClassVar[bool] = True
    #: :meth:`create` writes only if absent (exclusive among the users of ``scope``)
    create_if_absent: ClassVar[bool] = True
    #: :meth:`update` / :meth:`delete` honour a generation (among the users of ``scope``)
    conditional_update: ClassVar[bool] = True
    #: :meth:`list` lists by prefix
    listing: ClassVar[bool] = True
    #: :meth:`list` of a prefix is one request whatever else its folder holds (an object
    #: store's prefix query), so it beats several :meth:`exists` calls; on a file system it
    #: reads the whole folder
    prefix_listing: ClassVar[bool] = False
    #: keys are files on this machine's file system (GDAL/rasterio/os can open :meth:`url_for`)
    local: ClassVar[bool] = False
    #: who sees the same objects, and is kept apart by create/update: one ``"process"``
    #: (memory), the processes of one ``"host"`` (local disk) or a ``"cluster"`` of hosts
    scope: ClassVar[Literal["process", "host", "cluster"]] = "cluster"

    url: str

    # -- addressing ------------------------------------------------------------------
    @abc.abstractmethod
    def child(self, *parts: str) -> Store:
        """The store rooted at ``root/parts...`` (same backend and options)."""

    @abc.abstractmethod
    def url_for(self, key: str = "") -> str:
        """The full URL of ``key`` (a plain path for local stores)."""

    @property
    @abc.abstractmethod
    def fs(self) -> Any:
        """The fsspec filesystem, for libraries that take one (xarray, zarr, rasterio)."""

    @property
    @abc.abstractmethod
    def storage_options(self) -> dict[str, Any]:
        """The options to hand xarray/zarr/fsspec together with :meth:`url_for`."""

    # -- data objects ----------------------------------------------------------------
    @abc.abstractmethod
    def read(self, key: str) -> bytes:
        """The whole object; a missing one raises :class:`~reefdask.errors.InputNotFoundError`."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a data object, a live versioned object or a folder is at ``key``."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix`` (recursive, sorted, relative to the root); no temporaries.

        Versioned objects are listed too (live ones only).
        """

    @abc.abstractmethod
    def publish(
        self, key: str, data: bytes | Iterable[bytes] | BinaryIO, *, check: Check | None = None
    ) -> None:
        """Write ``key`` all or nothing.

        ``data`` is bytes, an iterable of byte chunks or a readable binary file. The bytes
        go to a temporary object; ``check`` (when given) runs on the complete copy; only
        then is it published under ``key``. On any exception (a stream cut halfway, a
        failed check, a full disk) nothing appears under ``key`` (a previous object stays
        as it was) and the temporary is removed.
        """

    def publish_file(
        self, key: str, local_path: str, *, check: Check | None = None, move: bool = False
    ) -> None:
        """:meth:`publish` of a local file's content.

        ``move=True`` lets the store consume the file (a rename when it is on the same
        file system); the file is gone afterwards either way, also after an error.
        """
        try:
            with open(local_path, "rb") as f:
                self.publish(key, f, check=check)
        finally:
            if move:
                _unlink_quiet(local_path)

    @abc.abstractmethod
    def remove(self, key: str, *, recursive: bool = False) -> None:
        """Remove a data object (or a folder with ``recursive``); absent is not an error."""

    @abc.abstractmethod
    def remove_stale(self, prefix: str = "", *, max_age: float = 86400.0) -> int:
        """Delete temporaries under ``prefix`` left by dead writers; how many were removed.

        A temporary is stale when its writer's process is gone (same host) or when it is
        older than ``max_age`` seconds. Call it at the start of a run.
        """

    # -- versioned objects -------------------------------------------------------------
    @abc.abstractmethod
    def get(self, key: str) -> Versioned | None:
        """The versioned object at ``key`` and its generation, or None when absent."""

    @abc.abstractmethod
    def create(self, key: str, data: bytes) -> int | None:
        """Write only if absent: the new generation, or None when it exists already.

        Versioned objects are never empty (``b""`` raises :class:`StoreError`).
        """

    @abc.abstractmethod
    def update(self, key: str, data: bytes, *, generation: int) -> int | None:
        """Write only if the current generation is ``generation``: the new one, or None."""

    @abc.abstractmethod
    def delete(self, key: str, *, generation: int) -> bool:
        """Delete only if the current generation is ``generation``; whether it was deleted."""

    def purge(self, key: str) -> None:
        """Drop what a deleted versioned object leaves behind (local tombstones); else nothing.

        Only for keys whose work is over: a writer racing with it may lose its write.
        """
        return None

    # -- travel --------------------------------------------------------------------------
    @abc.abstractmethod
    def __reduce__(self) -> tuple[Any, ...]:
        """Stores pickle as their constructor arguments (no connection, no cache)."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__reduce__() == self.__reduce__()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.url))

    def __repr__(self) -> str:
        opts = redact(self.storage_options)
        return f"{type(self).__name__}({self.url!r}" + (f", storage_options={opts!r})" if opts else ")")

    def __str__(self) -> str:
        """The root URL (a plain path locally), as pathlib's ``str``; never the options."""
        return self.url


def nonempty(data: bytes) -> bytes:
    """``data`` as bytes, refusing an empty versioned object."""
    if not data:
        raise StoreError("Versioned objects cannot be empty; write at least one byte (e.g. b'{}').")
    return bytes(data)


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
