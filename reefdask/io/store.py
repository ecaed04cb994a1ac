"""One store object: a root URL and its options, opened once and passed down.

Every stage reads and writes through a :class:`Store`: it is opened once from a URL and
its ``storage_options`` by :func:`open_store`, handed down as an object (never a URL
string re-resolved at every level) and pickled to Dask workers. Like zarr-python 3's
``Store`` it *declares* what it can do, and code above it asks the store instead of
sniffing URL strings.

Two kinds of object live in a store:

* **data objects**, written by :meth:`Store.publish` (all or nothing: a failed or
  unverified write never appears under its final name) and read with
  :meth:`Store.read` / listed with :meth:`Store.list`;
* **versioned objects** (small records, claims, leases), written by
  :meth:`Store.create` (only if absent) and :meth:`Store.update` (only if the
  generation is still the one read), read with :meth:`Store.get`, removed by
  :meth:`Store.delete`. A key is used as one kind or the other, never both.

Backends: local disk, shared disk (NFS/Lustre: ``os.link`` is atomic and exclusive),
``memory://`` (one process) and ``gs://`` (GCS generation preconditions).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar

__all__ = ["Store", "Versioned", "open_store"]


@dataclass(frozen=True)
class Versioned:
    """An object's bytes and the generation they were read at (``> 0``)."""

    data: bytes
    generation: int


#: a check run on a complete upload before it is published; raises to refuse it.
#: It gets a local path of the complete temporary copy.
Check = Callable[[str], None]


class Store(abc.ABC):
    """A root URL + options. Keys are ``/``-separated paths relative to the root."""

    #: writes are published all or nothing (temp + verify + rename / copy into place)
    atomic_publish: ClassVar[bool] = True
    #: :meth:`create` is exclusive across processes and hosts (not only threads)
    create_if_absent: ClassVar[bool] = True
    #: :meth:`update` / :meth:`delete` honour a generation across processes and hosts
    conditional_update: ClassVar[bool] = True
    #: :meth:`list` lists by prefix
    listing: ClassVar[bool] = True
    #: keys are files on this machine's file system (GDAL/rasterio/os can open :meth:`path`)
    local: ClassVar[bool] = False

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
        """Whether a data object, a versioned object or a folder is at ``key``."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` (recursive, sorted, relative to the root); no temporaries."""

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

    @abc.abstractmethod
    def publish_file(self, key: str, local_path: str, *, check: Check | None = None) -> None:
        """:meth:`publish` of a local file's content (a rename where the store allows it)."""

    @abc.abstractmethod
    def remove(self, key: str, *, recursive: bool = False) -> None:
        """Remove a data object (or a folder with ``recursive``); absent is not an error."""

    # -- versioned objects -------------------------------------------------------------
    @abc.abstractmethod
    def get(self, key: str) -> Versioned | None:
        """The versioned object at ``key`` and its generation, or None when absent."""

    @abc.abstractmethod
    def create(self, key: str, data: bytes) -> int | None:
        """Write only if absent: the new generation, or None when it exists already."""

    @abc.abstractmethod
    def update(self, key: str, data: bytes, *, generation: int) -> int | None:
        """Write only if the current generation is ``generation``: the new one, or None."""

    @abc.abstractmethod
    def delete(self, key: str, *, generation: int) -> bool:
        """Delete only if the current generation is ``generation``; whether it was deleted."""

    # -- travel --------------------------------------------------------------------------
    def __reduce__(self) -> tuple[Any, ...]:  # pragma: no cover - each backend defines it
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


def open_store(url: str, storage_options: dict[str, Any] | None = None, *, shared: bool | None = None) -> Store:
    """The store for a local path, ``file://``, ``memory://`` or ``gs://`` URL.

    ``shared`` picks the shared-disk variant of a local path (``os.link`` publishing,
    safe on NFS); the default decides from the path's file system.
    """
    raise NotImplementedError("reefdask.io.store backends are being written (see issue 13)")
