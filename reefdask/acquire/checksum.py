"""Checksums that both sides of a copy can give: GCS crc32c / md5, computed locally alike.

A store's listing often carries a checksum of each object (GCS: ``crc32c`` and
``md5Hash``, base64 of the big-endian digest; an HTTP server may send ``Content-MD5``).
:func:`remote_checksum` picks the best one a listing offers and :class:`Hasher`
computes the same algorithm over bytes as they stream, so the source's figure and the
copy's figure are compared like for like. crc32c needs ``google-crc32c`` (installed with
gcsfs); without it only md5 is used.

Examples
--------
>>> h = Hasher("md5"); h.update(b"reef"); h.value
'lJgbRHlHweavXYvh4mLdfg=='
>>> remote_checksum({"md5Hash": "lJgbRHlHweavXYvh4mLdfg==", "size": 4})
('md5', 'lJgbRHlHweavXYvh4mLdfg==')
>>> remote_checksum({"size": 3}) is None
True
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

__all__ = ["HAVE_CRC32C", "Hasher", "remote_checksum", "file_checksum"]

try:  # google-crc32c comes with gcsfs (google-cloud-storage); C-accelerated
    import google_crc32c

    HAVE_CRC32C = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_CRC32C = False

_CHUNK = 4 * 2**20


class Hasher:
    """Incremental ``crc32c`` or ``md5``; :attr:`value` is base64 as GCS writes it."""

    def __init__(self, algorithm: str) -> None:
        if algorithm == "crc32c" and HAVE_CRC32C:
            self._h: Any = google_crc32c.Checksum()
        elif algorithm == "md5":
            self._h = hashlib.md5(usedforsecurity=False)
        else:
            raise ValueError(f"Unknown checksum algorithm {algorithm!r}; use 'crc32c' or 'md5'.")
        self.algorithm = algorithm

    def update(self, data: bytes) -> None:
        """Feed more bytes."""
        self._h.update(data)

    @property
    def value(self) -> str:
        """Base64 digest (big-endian for crc32c), comparable with GCS metadata."""
        return base64.b64encode(self._h.digest()).decode()


def remote_checksum(info: dict[str, Any]) -> tuple[str, str] | None:
    """``(algorithm, base64 digest)`` from a listing entry, or None when it has none.

    crc32c is preferred (GCS gives it for every object, composite ones included),
    then ``md5Hash`` (GCS) or ``Content-MD5`` (HTTP).
    """
    crc = info.get("crc32c")
    if crc and HAVE_CRC32C:
        return "crc32c", str(crc)
    md5 = info.get("md5Hash") or info.get("Content-MD5")
    if md5:
        return "md5", str(md5)
    return None


def file_checksum(path: str | Path, algorithm: str) -> str:
    """Checksum of a local file with ``algorithm`` (base64, as :class:`Hasher`)."""
    h = Hasher(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.value
