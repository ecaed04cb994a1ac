"""Copy one file, verified, with retries: the unit of work of ``reefdask acquire``.

:func:`copy_one` copies a source URL to a destination only when the destination is
missing or differs (size, then the source's own checksum recomputed on the copy), and
publishes it under its final name only when complete and verified:

* every copy goes through the destination store's :meth:`~reefdask.io.store.Store.publish`
  with the verification below as its ``check``: locally a temporary file beside the
  destination renamed into place, on a bucket a verified upload to a temporary key copied
  into place. A source that cuts the connection or a failed check never leaves an object
  under the final name (fsspec's ``with fs.open(path, "wb")`` committed it on ``__exit__``);
* the bytes are hashed while they stream, with the algorithm of the source's checksum
  (crc32c or md5), and compared with it; without a source checksum (a plain HTTP
  server) the size is compared;
* ``.tif`` files are opened with rasterio before publication when ``verify_rasters``
  (on the complete local temporary copy, for buckets too), and their first and last
  pixels read (a truncated GeoTIFF opens but fails there): a corrupt object is
  reported, never published;
* a verified local copy is recorded done in the work layer's format
  (``_work/<name>.done.json`` in its folder: size, mtime, checksum; older copies'
  ``.<name>.verified.json`` still reads), so a rerun on a complete destination does not
  re-read every byte;
  a file changed since (other size or mtime) is hashed again; ``trust_cache=False``
  (manifest ``trust_cache: false``) re-hashes everything;
* transient errors (connection resets, timeouts, HTTP 408/429/5xx, a checksum
  mismatch) are retried with exponential backoff (``backoff * 2**attempt`` seconds);
  missing files, refused access and corrupt rasters fail at once, with their reason.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from reefdask.acquire.atomic import WORK_DIR, remove_stale_parts
from reefdask.acquire.checksum import Hasher, file_checksum, remote_checksum
from reefdask.io.storage import filesystem, is_local_fs
from reefdask.io.store import Store, store_for
from reefdask.io.store_local import LocalStore
from reefdask.work import Records
from reefdask.work.records import record_name

__all__ = ["CopyItem", "Outcome", "TransientCopyError", "copy_one", "is_transient", "quick_skip"]

_CHUNK = 16 * 2**20  # bytes per read: memory per copy is O(chunk)
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


class TransientCopyError(OSError):
    """A copy that may succeed when tried again (short read, checksum mismatch)."""


class CorruptSourceError(ValueError):
    """The source bytes arrived intact but are not what their name promises."""


@dataclass(frozen=True)
class CopyItem:
    """One file to copy; ``size``/``checksum`` come from the listing when it had them."""

    source: str
    dest: str
    source_name: str = ""
    kind: str = "other"
    region: str = ""
    size: int | None = None
    checksum: tuple[str, str] | None = None
    storage_options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class Outcome:
    """What happened to one item: ``copied``, ``skipped`` or ``failed`` (with the reason)."""

    item: CopyItem
    status: Literal["copied", "skipped", "failed"]
    reason: str = ""
    nbytes: int = 0
    attempts: int = 1
    verified_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly record."""
        return {
            "source": self.item.source,
            "dest": self.item.dest,
            "status": self.status,
            "reason": self.reason,
            "bytes": self.nbytes,
            "attempts": self.attempts,
            "verified_by": self.verified_by,
        }


def is_transient(err: BaseException) -> bool:
    """Whether an error is worth retrying."""
    if isinstance(err, (FileNotFoundError, PermissionError, IsADirectoryError, CorruptSourceError)):
        return False
    for attr in ("status", "code", "status_code"):
        status = getattr(err, attr, None)
        if isinstance(status, int) and status >= 400:
            return status in _TRANSIENT_STATUS
    if isinstance(err, (TimeoutError, ConnectionError, TransientCopyError)):
        return True
    name = type(err).__module__
    if name.startswith(("aiohttp", "requests", "urllib3", "http.client")):
        return True
    return isinstance(err, OSError)


def copy_one(
    item: CopyItem,
    *,
    retries: int = 4,
    backoff: float = 0.5,
    verify_rasters: bool = True,
    trust_cache: bool = True,
    fsync: bool = True,
) -> Outcome:
    """Copy ``item`` if needed, retrying transient errors; never raises for a bad file."""
    attempt = 0
    while True:
        try:
            out = _copy_once(item, verify_rasters, trust_cache, fsync)
            out.attempts = attempt + 1
            return out
        except Exception as err:  # one bad file never stops a run
            if not is_transient(err) or attempt >= retries:
                reason = f"{type(err).__name__}: {err}".strip()
                return Outcome(item, "failed", reason=reason[:500], attempts=attempt + 1)
            time.sleep(backoff * 2**attempt)
            attempt += 1


def quick_skip(item: CopyItem) -> Outcome | None:
    """Skip ``item`` at planning time when its local copy's record matches the listing.

    Costs two small local reads and no request; None means the copy task must look.
    """
    if item.size is None or item.checksum is None:
        return None
    store, key = store_for(item.dest)
    if not store.local:
        return None
    dest = Path(store.url_for(key))
    cached = _cached_checksum(dest)
    try:
        if cached is None or cached != item.checksum or dest.stat().st_size != item.size:
            return None
    except OSError:
        return None
    return Outcome(item, "skipped", reason="up to date", verified_by=f"{cached[0]} (cached)")


def _source_facts(item: CopyItem) -> tuple[int | None, tuple[str, str] | None]:
    if item.size is not None:
        return item.size, item.checksum
    fs, path = filesystem(item.source, item.storage_options)
    info = fs.info(path)
    if info.get("type") == "directory":
        raise IsADirectoryError(f"{item.source} is a folder; list it with `url` + `pattern` instead")
    size = info.get("size")
    checksum = remote_checksum(info)
    if checksum is None and is_local_fs(fs):
        checksum = ("crc32c" if _crc_ok() else "md5", "")  # computed on both sides below
    return (int(size) if size is not None else None), checksum


def _crc_ok() -> bool:
    from reefdask.acquire.checksum import HAVE_CRC32C

    return HAVE_CRC32C


def _expected_checksum(item: CopyItem, checksum: tuple[str, str] | None) -> tuple[str, str] | None:
    """Fill in a local source's checksum (computed, with the same algorithm as the copy)."""
    if checksum is not None and not checksum[1]:
        fs, path = filesystem(item.source, item.storage_options)
        if is_local_fs(fs):
            return checksum[0], file_checksum(path, checksum[0])
    return checksum


def _records(dest: Path, fsync: bool = True) -> Records:
    """The work layer's records of a destination folder (``_work/<name>.done.json``)."""
    return Records(LocalStore(dest.parent, fsync=fsync), WORK_DIR)


def _cached_checksum(dest: Path) -> tuple[str, str] | None:
    """The checksum recorded when ``dest`` was verified, if the file has not changed since.

    The record is the work layer's ``_work/<name>.done.json``; copies verified before it
    have ``.<name>.verified.json`` beside them, which still reads.
    """
    try:
        done = _records(dest).read(record_name(dest.name, "done"))
        rec = (
            done.info
            if done is not None
            else json.loads(dest.with_name(f".{dest.name}.verified.json").read_text())
        )
        st = dest.stat()
    except (OSError, ValueError):
        return None
    if rec.get("size") != st.st_size or rec.get("mtime_ns") != st.st_mtime_ns:
        return None
    return str(rec["algorithm"]), str(rec["checksum"])


def _remember(dest: Path, checksum: tuple[str, str]) -> None:
    """Record ``dest`` done: its verified checksum with the file's size and mtime."""
    st = dest.stat()
    rec = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "algorithm": checksum[0], "checksum": checksum[1]}
    with contextlib.suppress(OSError):  # only a cache (no fsync): never fail a copy over it
        _records(dest, fsync=False).done(dest.name, info=rec)


def _dest_matches(
    item: CopyItem,
    store: Store,
    key: str,
    size: int | None,
    checksum: tuple[str, str] | None,
    trust_cache: bool = True,
) -> str | None:
    """How the existing destination was found equal to the source, or None if it is not."""
    if store.local:
        dest = Path(store.url_for(key))
        if not dest.is_file() or (size is not None and dest.stat().st_size != size):
            return None
        if checksum is None:
            return "size"
        if trust_cache and _cached_checksum(dest) == checksum:
            return f"{checksum[0]} (cached)"
        if file_checksum(dest, checksum[0]) != checksum[1]:
            return None
        _remember(dest, checksum)
        return checksum[0]
    fs, path = store.fs, store.url_for(key)
    fs.invalidate_cache(path)  # another run (or process) may have written it since a listing
    with contextlib.suppress(FileNotFoundError):
        info = fs.info(path)
        if size is not None and int(info.get("size", -1)) != size:
            return None
        theirs = remote_checksum(info)
        if checksum is None or theirs is None or theirs[0] != checksum[0]:
            return "size" if checksum is None else None
        return checksum[0] if theirs[1] == checksum[1] else None
    return None


def _copy_once(item: CopyItem, verify_rasters: bool, trust_cache: bool, fsync: bool) -> Outcome:
    size, checksum = _source_facts(item)
    checksum = _expected_checksum(item, checksum)
    store, key = store_for(item.dest, fsync=fsync)
    how = _dest_matches(item, store, key, size, checksum, trust_cache)
    if how is not None:
        return Outcome(item, "skipped", reason="up to date", verified_by=how)
    nbytes = _publish(item, store, key, size, checksum, verify_rasters)
    return Outcome(item, "copied", nbytes=nbytes, verified_by=checksum[0] if checksum else "size")


def _chunks(item: CopyItem, size: int | None) -> Iterator[bytes]:
    """Yield the source's bytes in chunks.

    Ranged reads when the size is known (one request each, no metadata round trip), a
    streaming read otherwise (and always for HTTP, whose servers may ignore ranges).
    """
    fs, path = filesystem(item.source, item.storage_options)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if size is not None and protocol not in ("http", "https", "file", "local"):
        for start in range(0, size, _CHUNK):
            yield fs.cat_file(path, start=start, end=min(start + _CHUNK, size))
        return
    block = 0 if protocol in ("http", "https") else _CHUNK  # HTTP: stream, no range requests
    with fs.open(path, "rb", block_size=block) as src:
        while chunk := src.read(_CHUNK):
            yield chunk


def _publish(
    item: CopyItem, store: Store, key: str, size: int | None, checksum: tuple[str, str] | None, verify: bool
) -> int:
    """Publish the source's bytes under ``key``, verified on the complete temporary copy."""
    hasher = Hasher(checksum[0]) if checksum else None
    received = [0]

    def stream() -> Iterator[bytes]:
        for chunk in _chunks(item, size):
            if hasher is not None:
                hasher.update(chunk)
            received[0] += len(chunk)
            yield chunk

    def check(path: str) -> None:
        if size is not None and received[0] != size:
            raise TransientCopyError(f"received {received[0]} bytes, the source has {size}")
        if hasher is not None and checksum is not None and hasher.value != checksum[1]:
            raise TransientCopyError(
                f"{checksum[0]} of the received bytes {hasher.value} != source {checksum[1]}"
            )
        if verify and key.lower().endswith((".tif", ".tiff")):
            _verify_raster(Path(path), item.source)

    if store.local:
        remove_stale_parts(store.url_for(key))
    store.publish(key, stream(), check=check)
    if store.local and checksum is not None:
        _remember(Path(store.url_for(key)), checksum)
    return received[0]


def _verify_raster(path: Path, source: str) -> None:
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as ds:  # the first and the last tile: truncation shows there
            ds.read(window=((0, 1), (0, 1)))
            ds.read(window=((ds.height - 1, ds.height), (ds.width - 1, ds.width)))
    except RasterioError as err:
        raise CorruptSourceError(
            f"{source} is not a readable raster ({err}); the copy was not kept"
        ) from None
