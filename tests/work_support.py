"""Stores for the work-layer tests: every backend the work layer runs on."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from reefdask.io.store import Store, open_store

#: backends that need no service
LOCAL_BACKENDS = ("memory", "local", "shared")
#: every backend; ``gcs`` runs on fake-gcs-server (it honours ifGenerationMatch)
BACKENDS = (*LOCAL_BACKENDS, pytest.param("gcs", marks=pytest.mark.gcs))


def store_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The store of a ``store`` fixture parametrized over :data:`BACKENDS`."""
    if request.param == "gcs":
        from globalmap_support import gcs_options, new_bucket

        endpoint = request.getfixturevalue("fake_gcs")
        return open_store(f"{new_bucket(endpoint)}/work", gcs_options(endpoint))
    return make_store(request.param, tmp_path)


def make_store(kind: str, tmp_path: Path) -> Store:
    """A fresh, empty store of ``kind``: memory, local or shared (the ``os.link`` variant)."""
    if kind == "memory":
        return open_store(f"memory://work-{uuid.uuid4().hex[:12]}")
    if kind == "local":
        return open_store(str(tmp_path / "store"), shared=False)
    if kind == "shared":
        return open_store(str(tmp_path / "shared-store"), shared=True)
    raise ValueError(kind)
