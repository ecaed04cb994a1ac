"""The store on a local or shared file system (plain paths and ``file://`` URLs).

Data objects are files. :meth:`LocalStore.publish` writes a temporary file beside the
key (``.<name>.part-<host>-<pid>-<hex8>``), flushes it to disk, runs the check on it and
only then renames it into place (``os.replace``, atomic on POSIX and on NFS).

Versioned objects are folders ``root/<key>/`` of files named by generation
(``000000000001``...); the highest is the object and an empty one marks a deletion. A
write links a complete temporary file to ``head + 1``: ``os.link`` fails when that name
exists, so of concurrent writers on one generation exactly one wins (also across hosts
on NFS, where ``O_EXCL`` was never reliable), and older generations are then removed.

Examples
--------
>>> import tempfile
>>> store = LocalStore(tempfile.mkdtemp())
>>> g = store.create("k", b"one")
>>> store.create("k", b"two") is None                   # exists already
True
>>> store.update("k", b"two", generation=g) == g + 1     # compare-and-swap
True
>>> store.get("k").data, store.list()
(b'two', ['k'])
"""

from __future__ import annotations

import builtins
import contextlib
import os
import shutil
from collections.abc import Iterable
from typing import Any, BinaryIO, ClassVar, Literal

from reefdask.errors import InputNotFoundError, StoreError
from reefdask.io.spool import write_all
from reefdask.io.store_base import (
    Check,
    Store,
    Versioned,
    check_key,
    is_stale_temporary,
    is_temporary,
    nonempty,
    temp_name,
)

__all__ = ["LocalStore", "SharedDiskStore", "on_shared_filesystem"]

_GEN_DIGITS = 12
_SHARED_FS = {"nfs", "nfs4", "lustre", "gpfs", "beegfs", "cifs", "smb3", "glusterfs", "cephfs", "ceph"}


def on_shared_filesystem(path: str) -> bool:
    """Whether ``path`` (or its nearest existing parent) is on a network file system."""
    try:
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1:3] for line in f if len(line.split()) > 2]
    except OSError:
        return False
    real = os.path.realpath(os.path.abspath(path))
    best, fstype = "", ""
    for point, kind in mounts:
        point = point.replace("\\040", " ")
        if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
            best, fstype = point, kind
    return fstype in _SHARED_FS or fstype.startswith("fuse.")


def _unlink_quiet(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class LocalStore(Store):
    """Files under a folder on this machine (one host; see :class:`SharedDiskStore`)."""

    local: ClassVar[bool] = True
    scope: ClassVar[Literal["process", "host", "cluster"]] = "host"
    #: lost replies of a network file system are recognised (see :class:`SharedDiskStore`)
    shared: ClassVar[bool] = False

    def __init__(self, root: str | os.PathLike, *, fsync: bool = True) -> None:
        root = os.fspath(root)
        self.root = os.path.abspath(root[len("file://") :] if root.startswith("file://") else root)
        self.url = self.root
        self.fsync = bool(fsync)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.root,), {"fsync": self.fsync})

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.fsync = state["fsync"]

    # -- addressing ------------------------------------------------------------------
    def child(self, *parts: str) -> LocalStore:
        """The store rooted at ``root/parts...``."""
        return type(self)(self.url_for("/".join(parts)), fsync=self.fsync)

    def url_for(self, key: str = "") -> str:
        """The plain path of ``key``."""
        k = check_key(key, empty_ok=True)
        return os.path.join(self.root, *k.split("/")) if k else self.root

    @property
    def fs(self) -> Any:
        """The fsspec local file system."""
        import fsspec

        return fsspec.filesystem("file")

    @property
    def storage_options(self) -> dict[str, Any]:
        """None needed."""
        return {}

    # -- data objects ----------------------------------------------------------------
    def read(self, key: str) -> bytes:
        """The file's bytes."""
        path = self.url_for(check_key(key))
        try:
            with open(path, "rb") as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as err:
            raise InputNotFoundError(f"{path} does not exist; check the path or create it first.") from err

    def exists(self, key: str) -> bool:
        """A file, a folder or a live versioned object."""
        path = self.url_for(key)
        if os.path.isdir(path) and self._generations(path):
            return self._live(path)
        return os.path.exists(path)

    def list(self, prefix: str = "") -> list[str]:
        """Files and live versioned objects whose key starts with ``prefix``."""
        p = str(prefix).lstrip("/")
        base = p.rsplit("/", 1)[0] if "/" in p else ""
        top = self.url_for(base)
        out: list[str] = []
        for folder, dirs, files in os.walk(top):
            rel = os.path.relpath(folder, self.root).replace(os.sep, "/")
            rel = "" if rel == "." else rel
            if folder != top and self._generations(folder, files):
                dirs[:] = []
                if self._live(folder):
                    out.append(rel)
                continue
            dirs[:] = [d for d in dirs if not is_temporary(d)]
            out.extend(f"{rel}/{n}" if rel else n for n in files if not is_temporary(n))
        return sorted(k for k in out if k.startswith(p))

    def publish(
        self, key: str, data: bytes | Iterable[bytes] | BinaryIO, *, check: Check | None = None
    ) -> None:
        """Temporary file beside ``key``, flushed, checked, renamed into place."""
        final = self.url_for(check_key(key))
        folder = os.path.dirname(final)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, temp_name(os.path.basename(final)))
        try:
            with open(tmp, "wb") as f:
                write_all(f, data)
                f.flush()
                if self.fsync:
                    os.fsync(f.fileno())
            if check is not None:
                check(tmp)
            self._rename(tmp, final)
        finally:
            _unlink_quiet(tmp)

    def publish_file(
        self, key: str, local_path: str, *, check: Check | None = None, move: bool = False
    ) -> None:
        """With ``move``, a file on the same file system is renamed into place (no copy)."""
        final = self.url_for(check_key(key))
        os.makedirs(os.path.dirname(final), exist_ok=True)
        if not move or os.stat(local_path).st_dev != os.stat(os.path.dirname(final)).st_dev:
            return super().publish_file(key, local_path, check=check, move=move)
        try:
            if self.fsync:
                self._fsync(local_path)
            if check is not None:
                check(local_path)
            self._rename(local_path, final)
        finally:
            _unlink_quiet(local_path)

    def _rename(self, tmp: str, final: str) -> None:
        inode = os.stat(tmp).st_ino
        try:
            os.replace(tmp, final)
        except FileNotFoundError:
            # NFS: the server did the rename, its reply was lost, the retry found no source
            if not (self.shared and _inode(final) == inode):
                raise
        if self.shared and self.fsync:
            self._fsync(os.path.dirname(final))

    @staticmethod
    def _fsync(path: str) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove(self, key: str, *, recursive: bool = False) -> None:
        """Remove a file, or a folder (and everything in it) with ``recursive``."""
        path = self.url_for(check_key(key, empty_ok=recursive))
        if os.path.isdir(path):
            if not recursive:
                raise StoreError(f"{path} is a folder; pass recursive=True to remove it and its content.")
            shutil.rmtree(path, ignore_errors=True)
        else:
            _unlink_quiet(path)

    def remove_stale(self, prefix: str = "", *, max_age: float = 86400.0) -> int:
        """Delete stale temporaries under the folder ``prefix``."""
        removed = 0
        for folder, dirs, files in os.walk(self.url_for(prefix)):
            for name in [*dirs, *files]:
                path = os.path.join(folder, name)
                try:
                    stale = is_stale_temporary(name, os.stat(path).st_mtime, max_age)
                except OSError:
                    continue
                if stale:  # a temporary folder (a COG being built, a Keras save) goes whole
                    with contextlib.suppress(FileNotFoundError):
                        shutil.rmtree(path) if name in dirs else os.unlink(path)
                        removed += 1
            dirs[:] = [d for d in dirs if os.path.isdir(os.path.join(folder, d))]
        return removed

    # -- versioned objects -------------------------------------------------------------
    @staticmethod
    def _generations(folder: str, names: builtins.list[str] | None = None) -> builtins.list[int]:
        if names is None:
            try:
                names = os.listdir(folder)
            except (FileNotFoundError, NotADirectoryError):
                return []
        return sorted(int(n) for n in names if len(n) == _GEN_DIGITS and n.isdigit())

    def _live(self, folder: str) -> bool:
        gens = self._generations(folder)
        try:
            return bool(gens) and os.stat(os.path.join(folder, f"{gens[-1]:012d}")).st_size > 0
        except FileNotFoundError:
            return self._head(folder)[1] != b""

    def _head(self, folder: str) -> tuple[int, bytes]:
        """``(newest generation, its bytes)`` from ONE listing; ``(0, b"")`` when absent.

        Head and data must come from the same listing: a writer that compared a stale
        read with a newer head would link ``head + 1`` on a generation it never saw.
        """
        for _ in range(20):
            gens = self._generations(folder)
            if not gens:
                return 0, b""
            try:
                with open(os.path.join(folder, f"{gens[-1]:012d}"), "rb") as f:
                    return gens[-1], f.read()
            except FileNotFoundError:  # superseded and removed while we listed: read again
                continue
        raise StoreError(f"{folder} keeps changing; check that its file system is not failing.")

    def get(self, key: str) -> Versioned | None:
        """The newest generation, or None when absent or deleted."""
        head, data = self._head(self.url_for(check_key(key)))
        return Versioned(data, head) if data else None

    def create(self, key: str, data: bytes) -> int | None:
        """Link generation ``head + 1`` if absent or deleted."""
        return self._link(key, nonempty(data), 0)

    def update(self, key: str, data: bytes, *, generation: int) -> int | None:
        """Link generation ``head + 1`` if the live one is ``generation``."""
        return self._link(key, nonempty(data), generation) if generation > 0 else None

    def delete(self, key: str, *, generation: int) -> bool:
        """Link an empty generation (a tombstone) if the live one is ``generation``."""
        return generation > 0 and self._link(key, b"", generation) is not None

    def _link(self, key: str, data: bytes, expected: int) -> int | None:
        folder = self.url_for(check_key(key))
        head, body = self._head(folder)
        if (head if body else 0) != expected:
            return None
        new = head + 1
        target = os.path.join(folder, f"{new:012d}")
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, temp_name("gen"))
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                if self.fsync:
                    os.fsync(f.fileno())
            try:
                os.link(tmp, target)
            except FileExistsError:
                if os.stat(tmp).st_nlink != 2:  # 2: ours did link (a lost NFS reply)
                    return None
        finally:
            _unlink_quiet(tmp)
        gens = self._generations(folder)
        if gens and gens[-1] != new:  # a writer that read before a purge: lost, not the head
            _unlink_quiet(target)
            return None
        for g in gens[:-1]:
            _unlink_quiet(os.path.join(folder, f"{g:012d}"))
        return new

    def purge(self, key: str) -> None:
        """Remove a deleted key's folder (its tombstone) so listings stay small."""
        folder = self.url_for(check_key(key))
        if self._generations(folder) and self.get(key) is None:
            shutil.rmtree(folder, ignore_errors=True)


class SharedDiskStore(LocalStore):
    """:class:`LocalStore` on a file system that several hosts mount (NFS, Lustre, GPFS).

    What differs: its scope is a ``"cluster"`` of hosts (a plain local store promises
    only one host); a lost reply to a rename (an NFS client that retransmits a request
    the server already carried out, then sees no source) is recognised by the inode
    under the final name instead of being reported as a failure; and each publication
    also flushes the folder, so the new name survives a server crash. Both variants
    create and update versioned objects with ``os.link`` (atomic and exclusive on NFS,
    where ``O_EXCL`` never was reliable), judging a lost link reply by the link count.
    """

    scope: ClassVar[Literal["process", "host", "cluster"]] = "cluster"
    shared: ClassVar[bool] = True


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None
