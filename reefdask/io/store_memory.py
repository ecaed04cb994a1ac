"""The ``memory://`` store: fsspec's in-memory file system, for tests and demos.

Every object lives in this process (fsspec's memory file system is one per process,
so a pickled copy in the same process sees the same objects, one in another process
sees none). Conditional operations run under one process-wide lock: ``create``,
``update`` and ``delete`` are exclusive among the threads of this process only, which
the class declares with ``scope = "process"``.

Examples
--------
>>> store = MemoryStore("memory://doctest-store")
>>> store.publish("x/y.bin", [b"ab", b"cd"])
>>> store.read("x/y.bin"), store.list("x/")
(b'abcd', ['x/y.bin'])
>>> store.remove("x", recursive=True)
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterable
from typing import Any, BinaryIO, ClassVar, Literal

from reefdask.errors import InputNotFoundError
from reefdask.io.spool import spool
from reefdask.io.store_base import (
    Check,
    Store,
    Versioned,
    check_key,
    is_stale_temporary,
    is_temporary,
    nonempty,
)

__all__ = ["MemoryStore"]

_LOCK = threading.RLock()
_GENERATIONS: dict[str, int] = {}  # path -> generation of the versioned object there
_COUNTER = itertools.count(1)


class MemoryStore(Store):
    """Objects in fsspec's memory file system under ``memory://<root>``."""

    scope: ClassVar[Literal["process", "host", "cluster"]] = "process"

    def __init__(self, url: str) -> None:
        root = str(url).split("://", 1)[-1].strip("/")
        self.root = "/" + root
        self.url = f"memory://{root}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (MemoryStore, (self.url,))

    def child(self, *parts: str) -> MemoryStore:
        """The store rooted at ``root/parts...``."""
        return MemoryStore(self.url_for("/".join(parts)))

    def url_for(self, key: str = "") -> str:
        """``memory://root/key``."""
        k = check_key(key, empty_ok=True)
        return f"{self.url}/{k}" if k else self.url

    def _path(self, key: str, empty_ok: bool = False) -> str:
        k = check_key(key, empty_ok=empty_ok)
        return f"{self.root}/{k}" if k else self.root

    @property
    def fs(self) -> Any:
        """The fsspec memory file system."""
        import fsspec

        return fsspec.filesystem("memory")

    @property
    def storage_options(self) -> dict[str, Any]:
        """None needed."""
        return {}

    # -- data objects ----------------------------------------------------------------
    def read(self, key: str) -> bytes:
        """The object's bytes."""
        try:
            return bytes(self.fs.cat_file(self._path(key)))
        except (FileNotFoundError, IsADirectoryError) as err:
            raise InputNotFoundError(f"{self.url_for(key)} does not exist; publish it first.") from err

    def exists(self, key: str) -> bool:
        """An object or a folder."""
        return bool(self.fs.exists(self._path(key, empty_ok=True)))

    def _files(self, prefix: str) -> dict[str, Any]:
        p = str(prefix).lstrip("/")
        base = self._path(p.rsplit("/", 1)[0] if "/" in p else "", empty_ok=True)
        if not self.fs.isdir(base):
            return {}
        n = len(self.root) + 1
        found = self.fs.find(base, detail=True)
        return {path[n:]: info for path, info in found.items() if path[n:].startswith(p)}

    def list(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix``, temporaries left out."""
        return sorted(k for k in self._files(prefix) if not is_temporary(k))

    def publish(
        self, key: str, data: bytes | Iterable[bytes] | BinaryIO, *, check: Check | None = None
    ) -> None:
        """Spool and check locally (the spool is the temporary), then put the whole object in one step.

        The memory file system commits a file only when it is complete (one dict
        assignment), so no temporary key and no ``mv`` (which scans every key) are needed.
        """
        path = self._path(key)
        with spool(data, check) as (local, _, _):
            with open(local, "rb") as f:
                body = f.read()
            with _LOCK:
                self.fs.pipe_file(path, body)

    def remove(self, key: str, *, recursive: bool = False) -> None:
        """Remove an object (or a folder with ``recursive``)."""
        path = self._path(key, empty_ok=recursive)
        with _LOCK, contextlib.suppress(FileNotFoundError):
            if self.fs.isdir(path):
                self.fs.rm(path, recursive=recursive)
            else:
                self.fs.rm_file(path)
                _GENERATIONS.pop(path, None)

    def remove_stale(self, prefix: str = "", *, max_age: float = 86400.0) -> int:
        """Delete temporaries of dead writers (never any: this process is alive) or old ones."""
        removed = 0
        for key, info in self._files(prefix).items():
            created = info.get("created")
            mtime = created.timestamp() if hasattr(created, "timestamp") else float(created or 0)
            if is_stale_temporary(key, mtime, max_age):
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm_file(self._path(key))
                    removed += 1
        return removed

    # -- versioned objects -------------------------------------------------------------
    def _current(self, path: str) -> int:
        if not self.fs.isfile(path):
            _GENERATIONS.pop(path, None)
            return 0
        return _GENERATIONS.setdefault(path, next(_COUNTER))

    def get(self, key: str) -> Versioned | None:
        """The object and its generation, or None."""
        path = self._path(key)
        with _LOCK:
            gen = self._current(path)
            return Versioned(bytes(self.fs.cat_file(path)), gen) if gen else None

    def _write(self, path: str, data: bytes, expected: int) -> int | None:
        with _LOCK:
            if self._current(path) != expected:
                return None
            self.fs.pipe_file(path, data)
            _GENERATIONS[path] = gen = next(_COUNTER)
            return gen

    def create(self, key: str, data: bytes) -> int | None:
        """Write if absent."""
        return self._write(self._path(key), nonempty(data), 0)

    def update(self, key: str, data: bytes, *, generation: int) -> int | None:
        """Write if the generation is still ``generation``."""
        return self._write(self._path(key), nonempty(data), generation) if generation > 0 else None

    def delete(self, key: str, *, generation: int) -> bool:
        """Delete if the generation is still ``generation``."""
        path = self._path(key)
        with _LOCK:
            if generation <= 0 or self._current(path) != generation:
                return False
            self.fs.rm_file(path)
            _GENERATIONS.pop(path, None)
            return True
