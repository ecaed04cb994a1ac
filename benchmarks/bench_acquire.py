"""Benchmark: ``reefdask acquire`` vs a sequential gcsfs copy loop, and a rerun on a complete copy.

Run: ``.venv/bin/python -m benchmarks.bench_acquire [--quick] [--quads N] [--emulator fake-gcs|gcp|both]``

For each emulator, N real GeoTIFF quads (default 64 of 512 x 512 RGBA, incompressible, about 1 MB each)
are put in two region folders of a bucket; then, in one run:

* baseline: a sequential loop of ``gcsfs.get_file`` into a fresh folder (what ``gsutil cp -n``
  in a shell loop amounts to, without any verification);
* reefdask: ``acquire`` into another fresh folder (parallel, each file checksummed and
  its raster header read before it is published);
* reefdask with ``fsync: false`` (rename-only publication: still safe against kills, not
  against power loss), into a third folder;
* rerun: ``acquire`` again on the complete destination (lists, re-hashes local files,
  copies nothing); the issue asks for <= 5 % of the first run.

Emulators: ``fake-gcs`` (fake-gcs-server, Go, serves requests concurrently like GCS)
and ``gcp`` (gcp-storage-emulator, a single-threaded Python server: parallel clients
queue on it, so it shows the floor, not what a real bucket allows).
Each is measured direct (``+0 ms``: loopback, where a copy costs a few milliseconds and
verification + fsync dominate) and through a proxy that adds 20 ms to every request
(``+20 ms``: a round trip to a real bucket, where waiting dominates and parallel copies pay).
Figures go to ``benchmarks/results/acquire.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

import numpy as np


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def start_emulator(kind: str) -> tuple[subprocess.Popen, str]:
    from reefdask.testing.emulators import start_emulator as _start

    emulator = _start({"fake-gcs": "fake"}.get(kind, kind))  # the launcher calls fake-gcs-server "fake"
    return emulator.proc, emulator.endpoint


class LatencyProxy:
    """A TCP proxy on loopback that holds each client->server read for ``latency`` seconds.

    Every HTTP request then waits about one ``latency`` before the server sees it, like
    the round trip to a real bucket; responses stream back at loopback speed.
    """

    def __init__(self, upstream: str, latency: float) -> None:
        import asyncio
        import threading

        self.host, self.port = upstream.split("//", 1)[1].split(":")
        self.latency = latency
        self.loop = asyncio.new_event_loop()
        self.listen_port = _free_port()
        ready = threading.Event()

        async def pipe(reader, writer, delay):  # type: ignore[no-untyped-def]
            try:
                while data := await reader.read(65536):
                    if delay:
                        await asyncio.sleep(delay)
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        async def handle(creader, cwriter):  # type: ignore[no-untyped-def]
            ureader, uwriter = await asyncio.open_connection(self.host, int(self.port))
            await asyncio.gather(pipe(creader, uwriter, self.latency), pipe(ureader, cwriter, 0.0))

        async def serve() -> None:
            server = await asyncio.start_server(handle, "127.0.0.1", self.listen_port)
            ready.set()
            async with server:
                await server.serve_forever()

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(serve()), daemon=True)
        self.thread.start()
        ready.wait(10)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"


def make_quads(n: int, size: int, workdir: Path) -> dict[str, bytes]:
    import rasterio

    from reefdask.core.grid import Quad

    rng = np.random.default_rng(0)
    out = {}
    for i in range(n):
        q = Quad(500 + i % 8, 1100 + i // 8)
        region = "belize" if i % 2 == 0 else "atoll"
        path = workdir / f"{q.id}.tif"
        data = rng.integers(1, 255, (4, size, size), dtype="uint8")
        with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=4, dtype="uint8",
                           crs="EPSG:3857", transform=q.transform(size=size)) as ds:  # fmt: skip
            ds.write(data)
        out[f"{region}/{q.id}.tif"] = path.read_bytes()
        path.unlink()
    return out


def bench(kind: str, n: int, size: int, workers: int, latency_ms: float) -> dict:
    import gcsfs

    from reefdask.acquire import Manifest, acquire

    proc, endpoint = start_emulator(kind)
    if latency_ms:
        endpoint = LatencyProxy(endpoint, latency_ms / 1000).endpoint
    opts = {"endpoint_url": endpoint, "token": "anon", "project": "test"}
    try:
        fs = gcsfs.GCSFileSystem(**opts)
        fs.mkdir("bench")
        fs.invalidate_cache()
        with tempfile.TemporaryDirectory() as tmp:
            tmpd = Path(tmp)
            objects = make_quads(n, size, tmpd)
            for rel, data in objects.items():
                fs.pipe_file(f"bench/mosaic/{rel}", data)
            fs.invalidate_cache()
            nbytes = sum(len(d) for d in objects.values())

            # warm both paths up (imports, HTTP session) on one object that is not timed
            import dask  # noqa: F401

            fs.pipe_file("bench/warm/x.bin", b"x")
            fs.get_file("bench/warm/x.bin", str(tmpd / "warm.bin"))
            warm = Manifest.model_validate({
                "destination": str(tmpd / "warm"), "sources": [{"name": "w", "kind": "other",
                "url": "gs://bench/warm", "pattern": "*", "storage_options": opts}]})  # fmt: skip
            acquire(warm, progress=False)

            t0 = time.perf_counter()
            base = tmpd / "baseline"
            listing = sorted(fs.find("bench/mosaic"))
            assert len(listing) == n, listing
            for path in listing:
                local = base / path.split("bench/mosaic/", 1)[1]
                local.parent.mkdir(parents=True, exist_ok=True)
                fs.get_file(path, str(local))
            t_base = time.perf_counter() - t0
            assert sum(p.stat().st_size for p in base.rglob("*.tif")) == nbytes

            manifest = Manifest.model_validate({
                "destination": str(tmpd / "reefdask"), "workers": workers,
                "sources": [{"name": "bench", "kind": "imagery", "url": "gs://bench/mosaic",
                             "storage_options": opts}],
            })  # fmt: skip
            first = acquire(manifest, progress=False)
            rerun = acquire(manifest, progress=False)
            nosync = manifest.model_copy(update={"destination": str(tmpd / "nofsync"), "fsync": False})
            first_nosync = acquire(nosync, progress=False)
            assert len(first_nosync.copied) == n
            assert len(first.copied) == n and not first.failed, first.summary()
            assert len(rerun.skipped) == n and not rerun.copied, rerun.summary()
            for rel, data in objects.items():
                assert (tmpd / "reefdask" / "imagery" / rel).read_bytes() == data
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return {
        "emulator": kind,
        "latency_ms": latency_ms,
        "quads": n,
        "megabytes": round(nbytes / 1e6, 1),
        "workers": workers,
        "baseline_sequential_gcsfs_s": round(t_base, 3),
        "reefdask_first_run_s": round(first.seconds, 3),
        "speedup_vs_baseline": round(t_base / first.seconds, 2),
        "reefdask_first_run_fsync_off_s": round(first_nosync.seconds, 3),
        "speedup_fsync_off": round(t_base / first_nosync.seconds, 2),
        "reefdask_rerun_s": round(rerun.seconds, 3),
        "rerun_fraction_of_first": round(rerun.seconds / first.seconds, 4),
        "rerun_within_5_percent": rerun.seconds <= 0.05 * first.seconds,
    }


def headline(result: dict) -> list[dict]:
    """Headline figures for ``benchmarks.run``: per emulator and latency, first copy vs gcsfs and rerun."""
    out = []
    for r in result["results"]:
        where = f"{r['quads']} quads, {r['emulator']} +{r['latency_ms']:g} ms"
        out.append(dict(name=f"acquire vs sequential gcsfs copy, {where}: speed-up",
                        value=r["reefdask_first_run_s"], baseline=r["baseline_sequential_gcsfs_s"], unit="s",
                        ratio=r["speedup_vs_baseline"], target=None))  # fmt: skip
        out.append(dict(name=f"acquire rerun on a complete copy vs first run, {where}: fraction",
                        value=r["reefdask_rerun_s"], baseline=r["reefdask_first_run_s"], unit="s",
                        ratio=r["rerun_fraction_of_first"], target="<= 0.05"))  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 small quads")
    ap.add_argument("--quads", type=int, default=64)
    ap.add_argument("--size", type=int, default=512, help="pixels per quad side (512: about 1 MB)")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--emulator", choices=["fake-gcs", "gcp", "both"], default="both")
    ap.add_argument(
        "--latency-ms",
        type=float,
        nargs="*",
        default=[0.0, 20.0],
        help="request latencies to inject with a loopback proxy (0 = direct)",
    )
    args = ap.parse_args()
    n, size = (8, 256) if args.quick else (args.quads, args.size)
    kinds = ["fake-gcs", "gcp"] if args.emulator == "both" else [args.emulator]
    results = []
    for kind in kinds:
        for lat in args.latency_ms:
            r = bench(kind, n, size, args.workers, lat)
            results.append(r)
            print(
                f"{kind:8s} +{lat:g} ms, {r['quads']} quads ({r['megabytes']} MB): "
                f"sequential gcsfs {r['baseline_sequential_gcsfs_s']:.2f} s"
                f" | reefdask {r['reefdask_first_run_s']:.2f} s (x{r['speedup_vs_baseline']:.2f}; "
                f"fsync off {r['reefdask_first_run_fsync_off_s']:.2f} s, x{r['speedup_fsync_off']:.2f})"
                f" | rerun {r['reefdask_rerun_s']:.3f} s = {100 * r['rerun_fraction_of_first']:.1f} %"
            )
    folder = os.environ.get("REEFDASK_BENCH_RESULTS") or Path(__file__).resolve().parent / "results"
    out = Path(folder) / "acquire.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = "python -m benchmarks.bench_acquire " + " ".join(sys.argv[1:])
    result = {"command": cmd, "cpus": os.cpu_count(), "results": results}
    result["headline"] = headline(result)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
