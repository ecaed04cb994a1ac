"""Bytes to a local file: the one loop that writes ``bytes | chunks | file`` somewhere.

:func:`write_all` writes any accepted form of data; :func:`spool` gives the complete,
checked local copy that remote stores upload (with its size and crc32c).

Examples
--------
>>> from pathlib import Path
>>> with spool([b"ab", b"cd"], None) as (path, size, crc):
...     Path(path).read_bytes(), size
(b'abcd', 4)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from reefdask.io.store_base import Check, temp_name

__all__ = ["file_crc32c", "spool", "write_all"]


def write_all(f: BinaryIO, data: bytes | Iterable[bytes] | BinaryIO) -> int:
    """Write bytes, an iterable of chunks or a readable file to ``f``; the byte count."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return f.write(data)
    n = 0
    if hasattr(data, "read"):
        while chunk := data.read(16 * 2**20):
            n += f.write(chunk)
        return n
    for chunk in data:
        n += f.write(chunk)
    return n


@contextlib.contextmanager
def spool(
    data: bytes | Iterable[bytes] | BinaryIO, check: Check | None
) -> Iterator[tuple[str, int, str | None]]:
    """A complete, checked local copy of ``data`` (a temporary file, removed afterwards).

    Yields ``(path, size, crc32c or None)``: the crc32c (base64, as GCS reports it) is
    computed while the bytes are written, when google-crc32c is installed.
    """
    fd, path = tempfile.mkstemp(prefix=temp_name("spool"))
    hasher = _crc32c()
    try:
        with os.fdopen(fd, "wb") as f:
            sink: Any = _Hashing(f, hasher) if hasher is not None else f
            size = write_all(sink, data)
        if check is not None:
            check(path)
        yield path, size, (_b64(hasher.digest()) if hasher is not None else None)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


class _Hashing:
    def __init__(self, f: BinaryIO, hasher: Any) -> None:
        self.f, self.hasher = f, hasher

    def write(self, chunk: bytes) -> int:
        self.hasher.update(chunk)
        return self.f.write(chunk)


def _crc32c() -> Any:
    try:
        import google_crc32c
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return google_crc32c.Checksum()


def _b64(digest: bytes) -> str:
    import base64

    return base64.b64encode(digest).decode()


def file_crc32c(path: str) -> str | None:
    """A local file's crc32c, base64 as GCS reports it (None without google-crc32c)."""
    hasher = _crc32c()
    if hasher is None:  # pragma: no cover - depends on the environment
        return None
    with open(path, "rb") as f:
        while chunk := f.read(16 * 2**20):
            hasher.update(chunk)
    return _b64(hasher.digest())
