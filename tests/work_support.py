"""Stores for the work-layer tests: every backend the work layer runs on."""

from __future__ import annotations

import uuid
from pathlib import Path

from reefdask.io.store import Store, open_store

#: backends that need no service
LOCAL_BACKENDS = ("memory", "local", "shared")


def make_store(kind: str, tmp_path: Path) -> Store:
    """A fresh, empty store of ``kind``: memory, local or shared (the ``os.link`` variant)."""
    if kind == "memory":
        return open_store(f"memory://work-{uuid.uuid4().hex[:12]}")
    if kind == "local":
        return open_store(str(tmp_path / "store"), shared=False)
    if kind == "shared":
        return open_store(str(tmp_path / "shared-store"), shared=True)
    raise ValueError(kind)
