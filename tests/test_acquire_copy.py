"""Acquire for real: the GCS emulator, a local HTTP server, a killed run, corrupt bytes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import rasterio
import yaml
from typer.testing import CliRunner

from reefdask.acquire import Manifest, acquire
from reefdask.cli import app
from reefdask.core.grid import Quad

QUADS = {
    "belize": ["L15-0525E-1122N", "L15-0526E-1122N", "L15-0525E-1123N"],
    "atoll": ["L15-0525E-1122N"],
}


def quad_bytes(tmp: Path, quad: str, size: int = 32, seed: int = 0) -> bytes:
    q = Quad.parse(quad)
    data = np.random.default_rng(seed).integers(1, 255, (4, size, size), dtype="uint8")
    path = tmp / f"{quad}-{seed}.tif"
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=4, dtype="uint8",
                       crs="EPSG:3857", transform=q.transform(size=size)) as ds:  # fmt: skip
        ds.write(data)
    return path.read_bytes()


@pytest.fixture
def filled_bucket(gcs_bucket: str, tmp_path: Path) -> tuple[str, dict[str, bytes]]:
    """Quads in two region folders (one quad in both), plus one corrupt object."""
    from reefdask.io.storage import filesystem

    fs, root = filesystem(gcs_bucket)
    content = {}
    for region, quads in QUADS.items():
        for i, q in enumerate(quads):
            content[f"{region}/{q}.tif"] = quad_bytes(tmp_path, q, seed=i)
    content["belize/L15-0526E-1123N.tif"] = b"II*\x00" + os.urandom(3000)  # corrupt: not a TIFF
    for rel, data in content.items():
        fs.pipe_file(f"{root}/mosaic/{rel}", data)
    fs.invalidate_cache()
    return gcs_bucket, content


def _manifest(dest: Path, **source) -> Manifest:
    return Manifest.model_validate(
        {
            "destination": str(dest),
            "workers": 4,
            "backoff": 0.01,
            "sources": [{"name": "s", "kind": "imagery", **source}],
        }
    )


@pytest.mark.gcs
def test_acquire_from_gcs_then_rerun_skips(
    filled_bucket: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    bucket, content = filled_bucket
    m = _manifest(tmp_path / "raw", url=f"{bucket}/mosaic")
    rep = acquire(m, progress=False)
    assert len(rep.copied) == 4 and len(rep.failed) == 1
    assert "not a readable raster" in rep.failed[0].reason and rep.failed[0].attempts == 1
    for o in rep.copied:
        rel = Path(o.item.dest).relative_to(tmp_path / "raw" / "imagery").as_posix()
        assert Path(o.item.dest).read_bytes() == content[rel]
        assert o.verified_by == "crc32c"
    assert not (tmp_path / "raw/imagery/belize/L15-0526E-1123N.tif").exists()
    assert not list((tmp_path / "raw").rglob(".*.part-*"))
    # a quad in two regions is copied to both region folders
    assert (tmp_path / "raw/imagery/atoll/L15-0525E-1122N.tif").exists()

    rep2 = acquire(m, progress=False)
    assert (len(rep2.copied), len(rep2.skipped), len(rep2.failed)) == (0, 4, 1)
    assert {o.verified_by for o in rep2.skipped} == {"crc32c (cached)"}

    # bytes changed in a local copy (same size): found by checksum, fetched again
    victim = tmp_path / "raw/imagery/belize/L15-0526E-1122N.tif"
    data = bytearray(victim.read_bytes())
    data[-10] ^= 0xFF
    victim.write_bytes(bytes(data))
    rep3 = acquire(m, progress=False)
    assert [o.item.dest for o in rep3.copied] == [str(victim)]
    assert victim.read_bytes() == content["belize/L15-0526E-1122N.tif"]
    d = rep3.to_dict()
    assert (d["copied"], d["skipped"], d["failed"]) == (1, 3, 1)
    assert "failed" in rep3.summary() and "L15-0526E-1123N" in rep3.summary()

    # bytes changed with size and mtime kept: the cache trusts it, trust_cache=False does not
    st = victim.stat()
    data = bytearray(victim.read_bytes())
    data[-10] ^= 0xFF
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert not acquire(m, progress=False).copied
    strict = m.model_copy(update={"trust_cache": False})
    assert [o.item.dest for o in acquire(strict, progress=False).copied] == [str(victim)]
    assert victim.read_bytes() == content["belize/L15-0526E-1122N.tif"]


@pytest.mark.gcs
def test_acquire_cli_json_exit_code(filled_bucket: tuple[str, dict[str, bytes]], tmp_path: Path) -> None:
    bucket, _ = filled_bucket
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({
        "destination": str(tmp_path / "raw"),
        "sources": [{"name": "q", "kind": "imagery", "url": f"{bucket}/mosaic",
                     "filters": {"regions": ["atoll"]}}],
    }))  # fmt: skip
    res = CliRunner().invoke(app, ["acquire", str(path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert (data["copied"], data["failed"]) == (1, 0)
    res = CliRunner().invoke(app, ["acquire", str(path), "--no-progress"])
    assert "copied 0" in res.output and "skipped 1" in res.output


# -- a local HTTP server --------------------------------------------------------------------


class Handler(SimpleHTTPRequestHandler):
    """Serves a folder with Content-MD5; can throttle, fail or corrupt on purpose."""

    delay = 0.0  # seconds per 64 KiB
    fail_first: ClassVar[set[str]] = set()  # paths whose first GET answers 503
    corrupt_first: ClassVar[set[str]] = set()  # paths whose first GET sends flipped bytes
    cut_first: ClassVar[set[str]] = set()  # paths whose first GET stops halfway (connection cut)
    served: ClassVar[Counter[str]] = Counter()  # body bytes sent per path
    gets: ClassVar[Counter[str]] = Counter()

    def log_message(self, *args: object) -> None:
        pass

    def _file(self) -> Path:
        return Path(self.directory) / self.path.lstrip("/")

    def _headers(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-MD5", base64.b64encode(hashlib.md5(data).digest()).decode())
        self.end_headers()

    def do_HEAD(self) -> None:
        f = self._file()
        if not f.is_file():
            self.send_error(404)
            return
        self._headers(f.read_bytes())

    def do_GET(self) -> None:
        f = self._file()
        if not f.is_file():
            self.send_error(404)
            return
        cls = type(self)
        cls.gets[self.path] += 1
        if self.path in cls.fail_first and cls.gets[self.path] == 1:
            self.send_error(503)
            return
        data = f.read_bytes()
        self._headers(data)
        body = data
        if self.path in cls.corrupt_first and cls.gets[self.path] == 1:
            body = bytes([data[0] ^ 1]) + data[1:]
        if self.path in cls.cut_first and cls.gets[self.path] == 1:
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        for i in range(0, len(body), 65536):
            self.wfile.write(body[i : i + 65536])
            cls.served[self.path] += len(body[i : i + 65536])
            if cls.delay:
                time.sleep(cls.delay)


@pytest.fixture
def http_source(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    Handler.delay, Handler.fail_first, Handler.corrupt_first, Handler.cut_first = 0.0, set(), set(), set()
    Handler.served, Handler.gets = Counter(), Counter()
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Handler(*a, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_http_retries_transient_and_corrupt_downloads(http_source: tuple[str, Path], tmp_path: Path) -> None:
    base, root = http_source
    a = quad_bytes(root, "L15-0525E-1122N")
    b = quad_bytes(root, "L15-0526E-1122N", seed=1)
    (root / "a.tif").write_bytes(a)
    (root / "b.tif").write_bytes(b)
    Handler.fail_first = {"/a.tif"}
    Handler.corrupt_first = {"/b.tif"}
    m = _manifest(tmp_path / "raw", urls=[f"{base}/a.tif", f"{base}/b.tif", f"{base}/missing.tif"])
    rep = acquire(m, progress=False)
    by_name = {Path(o.item.dest).name: o for o in rep.outcomes}
    assert by_name["a.tif"].status == "copied" and by_name["a.tif"].attempts == 2
    assert by_name["b.tif"].status == "copied" and by_name["b.tif"].attempts == 2  # md5 mismatch, refetched
    assert by_name["b.tif"].verified_by == "md5"
    assert (tmp_path / "raw/imagery/a.tif").read_bytes() == a
    assert (tmp_path / "raw/imagery/b.tif").read_bytes() == b
    assert by_name["missing.tif"].status == "failed" and by_name["missing.tif"].attempts == 1


def _final_files_ok(dest: Path, expected: dict[str, bytes], bad: list[str], stop: threading.Event) -> None:
    """Watch the destination: a file under its final name must always be complete."""
    while not stop.is_set():
        for p in dest.glob("*.tif"):
            try:
                data = p.read_bytes()
            except FileNotFoundError:
                continue
            if data != expected[p.name]:
                bad.append(p.name)
        time.sleep(0.005)


@pytest.mark.slow
def test_killed_acquire_resumes_without_recopying(http_source: tuple[str, Path], tmp_path: Path) -> None:
    base, root = http_source
    expected = {}
    for i in range(4):
        name = f"L15-05{25 + i}E-1122N.tif"
        expected[name] = os.urandom(400_000)  # not rasters: verify_rasters off below
        (root / name).write_bytes(expected[name])
    Handler.delay = 0.04  # ~0.25 s per file
    manifest = tmp_path / "m.yaml"
    dest = tmp_path / "raw" / "imagery"
    manifest.write_text(yaml.safe_dump({
        "destination": str(tmp_path / "raw"), "workers": 1, "verify_rasters": False,
        "sources": [{"name": "h", "kind": "imagery", "urls": [f"{base}/{n}" for n in expected]}],
    }))  # fmt: skip
    stop, bad = threading.Event(), []
    watcher = threading.Thread(target=_final_files_ok, args=(dest, expected, bad, stop), daemon=True)
    watcher.start()
    exe = Path(sys.executable).with_name("reefdask")
    proc = subprocess.Popen([str(exe), "acquire", str(manifest), "--no-progress"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill once one file is done and the next is half-way
        done = list(dest.glob("*.tif")) if dest.exists() else []
        parts = [p for p in dest.glob(".*.part-*") if p.stat().st_size > 100_000] if dest.exists() else []
        if done and parts:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert done and parts, "the run ended before it could be killed mid-copy"
    completed = {p.name for p in dest.glob("*.tif")}
    assert 1 <= len(completed) < 4
    assert list(dest.glob(".*.part-*")), "the killed run left its temporary file"

    Handler.delay = 0.0
    served_before = Counter(Handler.served)
    rep = acquire(Manifest.model_validate(yaml.safe_load(manifest.read_text())), progress=False)
    stop.set()
    watcher.join()
    assert bad == []
    assert {Path(o.item.dest).name for o in rep.skipped} == completed
    assert {Path(o.item.dest).name for o in rep.copied} == set(expected) - completed
    for name in completed:  # completed files were not downloaded again
        assert Handler.served[f"/{name}"] == served_before[f"/{name}"]
    assert {p.name: p.read_bytes() for p in dest.glob("*.tif")} == expected
    assert not list(dest.glob(".*.part-*")), "the dead run's temporary file was cleaned up"


def test_local_folder_source_checksums_both_sides(tmp_path: Path) -> None:
    src = tmp_path / "src" / "belize"
    src.mkdir(parents=True)
    (src / "L15-0525E-1122N.tif").write_bytes(quad_bytes(tmp_path, "L15-0525E-1122N"))
    m = _manifest(tmp_path / "raw", url=str(tmp_path / "src"))
    assert len(acquire(m, progress=False).copied) == 1
    out = tmp_path / "raw/imagery/belize/L15-0525E-1122N.tif"
    data = bytearray(out.read_bytes())
    data[-1] ^= 1
    out.write_bytes(bytes(data))
    rep = acquire(m, progress=False)
    assert len(rep.copied) == 1 and rep.copied[0].verified_by in ("crc32c", "md5")
    assert out.read_bytes() == (src / "L15-0525E-1122N.tif").read_bytes()
    assert len(acquire(m, progress=False).skipped) == 1


@pytest.mark.gcs
def test_local_folder_to_bucket_destination(gcs_bucket: str, tmp_path: Path) -> None:
    from reefdask.io.storage import filesystem

    src = tmp_path / "src" / "belize"
    src.mkdir(parents=True)
    data = quad_bytes(tmp_path, "L15-0525E-1122N")
    (src / "L15-0525E-1122N.tif").write_bytes(data)
    m = Manifest.model_validate(
        {
            "destination": f"{gcs_bucket}/raw",
            "sources": [{"name": "s", "kind": "imagery", "url": str(tmp_path / "src")}],
        }
    )
    assert len(acquire(m, progress=False).copied) == 1
    fs, root = filesystem(gcs_bucket)
    fs.invalidate_cache()
    assert fs.cat_file(f"{root}/raw/imagery/belize/L15-0525E-1122N.tif") == data
    rep = acquire(m, progress=False)  # the bucket's crc32c equals the local file's
    assert len(rep.skipped) == 1 and rep.skipped[0].verified_by == "crc32c"
    (src / "L15-0525E-1122N.tif").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    fs.invalidate_cache()
    assert len(acquire(m, progress=False).copied) == 1


def _failed_copies_publish_nothing(base: str, root: Path, dest: str, tmp_path: Path) -> None:
    from reefdask.acquire.copy import CopyItem, copy_one
    from reefdask.acquire.inventory import build_inventory
    from reefdask.io.store import is_temporary, open_store

    good = quad_bytes(tmp_path, "L15-0525E-1122N")
    for name in ("cut.tif", "flipped.tif"):
        (root / name).write_bytes(good)
    (root / "corrupt.tif").write_bytes(good[: len(good) // 2])  # a truncated GeoTIFF, served intact
    Handler.cut_first, Handler.corrupt_first = {"/cut.tif"}, {"/flipped.tif"}
    names = ("cut.tif", "flipped.tif", "corrupt.tif")
    outs = {n: copy_one(CopyItem(f"{base}/{n}", f"{dest}/{n}"), retries=0, backoff=0) for n in names}
    assert {n: o.status for n, o in outs.items()} == dict.fromkeys(names, "failed"), outs
    assert "not a readable raster" in outs["corrupt.tif"].reason
    store = open_store(dest)
    assert store.list() == [] and not [p for p in store.fs.find(store.url_for()) if is_temporary(p)]
    try:  # `reefdask inventory` finds no quad where every copy failed
        quads = len(build_inventory(dest).records)
    except FileNotFoundError:  # a bucket prefix with no object does not exist
        quads = 0
    assert quads == 0
    outs = {n: copy_one(CopyItem(f"{base}/{n}", f"{dest}/{n}"), retries=0) for n in names}
    assert [n for n, o in outs.items() if o.status == "copied"] == ["cut.tif", "flipped.tif"]
    assert [k for k in store.list() if k.endswith(".tif")] == ["cut.tif", "flipped.tif"]
    assert store.read("cut.tif") == good


def test_failed_downloads_are_never_published_on_disk(http_source: tuple[str, Path], tmp_path: Path) -> None:
    base, root = http_source
    _failed_copies_publish_nothing(base, root, str(tmp_path / "raw"), tmp_path)


@pytest.mark.gcs
def test_failed_uploads_are_never_published_in_a_bucket(
    http_source: tuple[str, Path], gcs_bucket: str, tmp_path: Path
) -> None:
    """The defect: ``with fs.open(path, "wb")`` committed a cut stream or a checksum mismatch."""
    base, root = http_source
    _failed_copies_publish_nothing(base, root, f"{gcs_bucket}/raw", tmp_path)
