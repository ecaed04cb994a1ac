"""Shared fixtures: tiny seeded data in real formats, and real local services."""

from __future__ import annotations

import os

# must precede any gcsfs import: gcsfs asks a gRPC API that emulators never answer
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reefdask.testing.emulators import start_emulator


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """A real GCS emulator (gcp-storage-emulator, in memory) on loopback; yields its endpoint.

    Sets ``STORAGE_EMULATOR_HOST`` for the session, which reefdask.io.storage turns into
    gcsfs options. It ignores preconditions: lease tests use ``fake_gcs`` instead.
    """
    emulator = start_emulator("gcp")
    endpoint = emulator.endpoint
    old = os.environ.get("STORAGE_EMULATOR_HOST")
    try:
        os.environ["STORAGE_EMULATOR_HOST"] = endpoint
        yield endpoint
    finally:
        emulator.stop()
        if old is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = old


@pytest.fixture
def gcs_bucket(gcs_emulator: str) -> str:
    """A new, empty bucket on the emulator; yields ``gs://<name>``."""
    from reefdask.io.storage import filesystem

    name = f"test-{uuid.uuid4().hex[:12]}"
    fs, _ = filesystem(f"gs://{name}")
    fs.mkdir(name)
    fs.invalidate_cache()
    return f"gs://{name}"


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    """A temporary folder (alias kept short for readability)."""
    return tmp_path


@pytest.fixture(scope="session")
def fake_gcs() -> Iterator[str]:
    """fake-gcs-server (in memory) on loopback, which honours ``ifGenerationMatch``; yields its endpoint.

    Unlike ``gcs_emulator`` it does not set ``STORAGE_EMULATOR_HOST``: pass
    ``storage_options=dict(endpoint_url=endpoint, token="anon", project="test")``.
    """
    with start_emulator("fake") as emulator:
        yield emulator.endpoint
