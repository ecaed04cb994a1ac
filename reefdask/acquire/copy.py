"""Copy one file, verified, with retries: the unit of work of ``reefdask acquire``.

:func:`copy_one` copies a source URL to a destination only when the destination is
missing or differs (size, then the source's own checksum recomputed on the copy), and
publishes it under its final name only when complete and verified:

* local destinations are written to a temporary name in the destination folder and
  renamed into place (:mod:`reefdask.acquire.atomic`); object stores publish an upload
  only when it completes;
* the bytes are hashed while they stream, with the algorithm of the source's checksum
  (crc32c or md5), and compared with it; without a source checksum (a plain HTTP
  server) the size is compared;
* ``.tif`` files are opened with rasterio before publication when ``verify_rasters``:
  a corrupt object is reported, never published;
* transient errors (connection resets, timeouts, HTTP 408/429/5xx, a checksum
  mismatch) are retried with exponential backoff (``backoff * 2**attempt`` seconds);
  missing files, refused access and corrupt rasters fail at once, with their reason.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from reefdask.acquire.atomic import part_path, publish, remove_stale_parts
from reefdask.acquire.checksum import Hasher, file_checksum, remote_checksum
from reefdask.storage import filesystem, is_local, strip_protocol

__all__ = ["CopyItem", "Outcome", "TransientCopyError", "copy_one", "is_transient"]

_CHUNK = 4 * 2**20
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
    item: CopyItem, *, retries: int = 4, backoff: float = 0.5, verify_rasters: bool = True
) -> Outcome:
    """Copy ``item`` if needed, retrying transient errors; never raises for a bad file."""
    attempt = 0
    while True:
        try:
            out = _copy_once(item, verify_rasters)
            out.attempts = attempt + 1
            return out
        except Exception as err:  # one bad file never stops a run
            if not is_transient(err) or attempt >= retries:
                reason = f"{type(err).__name__}: {err}".strip()
                return Outcome(item, "failed", reason=reason[:500], attempts=attempt + 1)
            time.sleep(backoff * 2**attempt)
            attempt += 1


def _source_facts(item: CopyItem) -> tuple[int | None, tuple[str, str] | None]:
    if item.size is not None:
        return item.size, item.checksum
    fs, path = filesystem(item.source, item.storage_options)
    info = fs.info(path)
    if info.get("type") == "directory":
        raise IsADirectoryError(f"{item.source} is a folder; list it with `url` + `pattern` instead")
    size = info.get("size")
    checksum = remote_checksum(info)
    if checksum is None and is_local(item.source):
        checksum = ("crc32c" if _crc_ok() else "md5", "")  # computed on both sides below
    return (int(size) if size is not None else None), checksum


def _crc_ok() -> bool:
    from reefdask.acquire.checksum import HAVE_CRC32C

    return HAVE_CRC32C


def _expected_checksum(item: CopyItem, checksum: tuple[str, str] | None) -> tuple[str, str] | None:
    """Fill in a local source's checksum (computed, with the same algorithm as the copy)."""
    if checksum is not None and not checksum[1] and is_local(item.source):
        return checksum[0], file_checksum(strip_protocol(item.source), checksum[0])
    return checksum


def _dest_matches(item: CopyItem, size: int | None, checksum: tuple[str, str] | None) -> str | None:
    """How the existing destination was found equal to the source, or None if it is not."""
    if is_local(item.dest):
        dest = Path(strip_protocol(item.dest))
        if not dest.is_file() or (size is not None and dest.stat().st_size != size):
            return None
        if checksum is None:
            return "size"
        return checksum[0] if file_checksum(dest, checksum[0]) == checksum[1] else None
    fs, path = filesystem(item.dest)
    with contextlib.suppress(FileNotFoundError):
        info = fs.info(path)
        if size is not None and int(info.get("size", -1)) != size:
            return None
        theirs = remote_checksum(info)
        if checksum is None or theirs is None or theirs[0] != checksum[0]:
            return "size" if checksum is None else None
        return checksum[0] if theirs[1] == checksum[1] else None
    return None


def _copy_once(item: CopyItem, verify_rasters: bool) -> Outcome:
    size, checksum = _source_facts(item)
    checksum = _expected_checksum(item, checksum)
    how = _dest_matches(item, size, checksum)
    if how is not None:
        return Outcome(item, "skipped", reason="up to date", verified_by=how)
    if is_local(item.dest):
        nbytes = _download_local(item, size, checksum, verify_rasters)
    else:
        nbytes = _upload_remote(item, size, checksum)
    return Outcome(item, "copied", nbytes=nbytes, verified_by=checksum[0] if checksum else "size")


def _open_source(item: CopyItem) -> Any:
    fs, path = filesystem(item.source, item.storage_options)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("http", "https"):
        return fs.open(path, "rb", block_size=0)  # streaming: no range requests
    return fs.open(path, "rb", block_size=_CHUNK)


def _stream(item: CopyItem, sink: Any, checksum: tuple[str, str] | None) -> int:
    hasher = Hasher(checksum[0]) if checksum else None
    n = 0
    with _open_source(item) as src:
        while chunk := src.read(_CHUNK):
            sink.write(chunk)
            if hasher is not None:
                hasher.update(chunk)
            n += len(chunk)
    if hasher is not None and hasher.value != checksum[1]:  # type: ignore[index]
        raise TransientCopyError(
            f"{checksum[0]} of the received bytes {hasher.value} != source {checksum[1]}"  # type: ignore[index]
        )
    return n


def _download_local(item: CopyItem, size: int | None, checksum: tuple[str, str] | None, verify: bool) -> int:
    final = Path(strip_protocol(item.dest))
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(final)
    part = part_path(final)
    try:
        with open(part, "wb") as sink:
            n = _stream(item, sink, checksum)
        if size is not None and n != size:
            raise TransientCopyError(f"received {n} bytes, the source has {size}")
        if verify and final.suffix.lower() in (".tif", ".tiff"):
            _verify_raster(part, item.source)
        publish(part, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
    return n


def _upload_remote(item: CopyItem, size: int | None, checksum: tuple[str, str] | None) -> int:
    fs, path = filesystem(item.dest)
    with fs.open(path, "wb") as sink:  # object stores publish on close
        n = _stream(item, sink, checksum)
    if size is not None and n != size:
        fs.rm(path)
        raise TransientCopyError(f"received {n} bytes, the source has {size}")
    return n


def _verify_raster(path: Path, source: str) -> None:
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as ds:
            ds.read(1, window=((0, min(1, ds.height)), (0, min(1, ds.width))))
    except RasterioError as err:
        raise CorruptSourceError(
            f"{source} is not a readable raster ({err}); the copy was not kept"
        ) from None
