"""Inference engine benchmarks, side by side in one run, with ratios.

1. **Engine vs bare model**: a ~1.2 M-parameter U-Net (depth 4, 16 filters) on one
   scene: ``reefdask.predict`` on a LocalCluster (1 worker process, ``--worker-threads`` 1) vs a
   plain loop in one process calling the model on the same chunk + halo tiles (read
   from the same lazy source, same preprocessing, no writes). Both warmed up first, then
   run alternately ``--repeat`` times (default 3); the median pair ratio is reported with
   the 1-minute load average after each pair (the CPU may be shared).
   Target: engine >= 0.85 x the loop's throughput.
2. **Tiles vs windows**: the same model, ``tiles`` (chunks of 1024 px, halo 64) vs the
   legacy ``windows`` rule (256-px windows every 128 px keeping the centre 128 px, the
   same 64 px of context), both through the engine, threaded scheduler. Target >= 3x.
3. **Resume cost**: rerunning the finished ``tiles`` prediction (plan + ledger listing +
   template check, nothing to compute) vs the full run. Target <= 2 %.
4. **Memory**: peak RSS (``VmHWM``) of a fresh process predicting a small vs a 16x
   larger scene (tiny model, 1024-px chunks, lazy synthetic source, local Zarr).
   Target: ratio <= 1.2 (nothing scene-sized).

The scene is a lazy Dask array of smooth synthetic reflectance (generated per block, so
nothing scene-sized exists on the source side either).

Run: ``.venv/bin/python -m benchmarks.bench_predict [--quick] [--size 8192] [--mem-sizes 4096 16384]``;
writes ``benchmarks/results/predict.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
RESULTS_DIR = os.environ.get("REEFDASK_BENCH_RESULTS") or Path(__file__).resolve().parent / "results"
RESULTS = Path(RESULTS_DIR) / "predict.json"


def _block(block_info=None):
    import numpy as np

    (_, _), (y0, y1), (x0, x1) = block_info[None]["array-location"]
    yy, xx = np.mgrid[y0:y1, x0:x1].astype("float32") / 97.0
    base = 120 + 60 * np.sin(yy) * np.cos(0.7 * xx)
    return np.stack([base, base * 0.8 + 20, 200 - base * 0.5]).astype("uint8")


def scene(size: int, block: int = 512):
    """A lazy ``(3, size, size)`` uint8 imagery DataArray on a 10 m grid."""
    import dask.array as dsa

    from reefdask.testing.models import as_imagery

    chunks = ((3,), *(tuple(min(block, size - i) for i in range(0, size, block)),) * 2)
    arr = dsa.map_blocks(_block, chunks=chunks, dtype="uint8", name=f"scene-{size}")
    return as_imagery(arr, name=f"scene{size}")


def bare_loop(model_path: str, da, chunk: int, halo: int) -> float:
    """The baseline: same tiles, same preprocessing, model calls in a plain loop, no writes."""
    import numpy as np

    from reefdask.predict import strategies
    from reefdask.predict.engine import encode_outputs
    from reefdask.predict.model import load_model
    from reefdask.predict.preprocess import Preprocessing

    model = load_model(model_path, "bare")
    pre = Preprocessing(bands=(1, 2, 3))
    _, h, w = da.shape
    t0 = time.perf_counter()
    for y0 in range(0, h, chunk):
        for x0 in range(0, w, chunk):
            y1, x1 = min(y0 + chunk, h), min(x0 + chunk, w)
            ry0, ry1, rx0, rx1 = max(0, y0 - halo), min(h, y1 + halo), max(0, x0 - halo), min(w, x1 + halo)
            raw = np.asarray(da.data[:, ry0:ry1, rx0:rx1].compute(scheduler="sync"))
            x, valid = pre.apply(raw, 0)
            pads = ((ry0 - y0 + halo, y1 + halo - ry1), (rx0 - x0 + halo, x1 + halo - rx1), (0, 0))
            x = np.pad(x, pads, constant_values=-10.0)
            p = strategies.tiles(model, x, halo=halo, h=y1 - y0, w=x1 - x0, stride=16, fill=-10.0)
            encode_outputs(p, valid[y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0], "uint8", tuple(range(1, 15)))
    return time.perf_counter() - t0


def timed_predict(*args, **kwargs) -> tuple[float, dict]:
    from reefdask.predict import predict

    t0 = time.perf_counter()
    ds = predict(*args, **kwargs)
    return time.perf_counter() - t0, ds.attrs["prediction_summary"]


def _peak_rss_mb() -> float:
    """This process's peak RSS (``VmHWM``; ``ru_maxrss`` would inherit the parent's across fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # pragma: no cover


def memory_phase(size: int, model: str, out: str) -> dict:
    """Run in a fresh process: one prediction, then report this process's peak RSS."""
    import dask

    with dask.config.set(scheduler="threads"):
        seconds, summary = timed_predict(scene(size), model, out, chunk=1024, halo=8)
    return {
        "size": size,
        "seconds": round(seconds, 2),
        "chunks": summary["total"],
        "peak_rss_mb": _peak_rss_mb(),
    }


def run_memory(size: int, model: str, work: Path) -> dict:
    out = work / f"mem-{size}.zarr"
    cmd = [sys.executable, "-m", "benchmarks.bench_predict", "--phase-memory", str(size), model, str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent)
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small scenes (2048 / memory 2048 vs 8192)")
    ap.add_argument("--size", type=int, default=None, help="scene size for phases 1-3 (default 4096)")
    ap.add_argument("--mem-sizes", type=int, nargs=2, default=None, help="memory phase sizes")
    ap.add_argument("--phases", default="engine,tiles,memory", help="comma-separated: engine,tiles,memory")
    ap.add_argument("--worker-threads", type=int, default=1, help="threads of each LocalCluster worker")
    ap.add_argument("--workers", type=int, default=1, help="LocalCluster worker processes")
    ap.add_argument("--repeat", type=int, default=3, help="engine phase: bare/engine pairs (median ratio)")
    ap.add_argument("--phase-memory", nargs=3, metavar=("SIZE", "MODEL", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase_memory:
        size, model, out = args.phase_memory
        print(json.dumps(memory_phase(int(size), model, out)))
        return
    size = args.size or (2048 if args.quick else 4096)
    mem_sizes = args.mem_sizes or ([2048, 8192] if args.quick else [4096, 16384])
    from reefdask.testing.models import tiny_fcn, tiny_unet

    work = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    unet, tiny = str(work / "unet.keras"), str(work / "tiny.keras")
    params = tiny_unet(unet, depth=4, filters=16, classes=14).count_params()
    tiny_fcn(tiny, n_conv=3, filters=8, classes=4)
    da = scene(size)
    results: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "unet_params": params,
    }

    phases = set(args.phases.split(","))
    if RESULTS.exists():  # keep figures of phases not rerun now
        results = {**json.loads(RESULTS.read_text()), **results}

    if "engine" in phases:
        _engine_vs_bare(results, unet, da, work, args.worker_threads, args.workers, args.repeat)
    if "tiles" in phases:
        _tiles_windows_resume(results, unet, da, work)
    if "memory" in phases:
        _memory(results, tiny, work, mem_sizes)
    results["headline"] = headline(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {RESULTS}")


def _engine_vs_bare(
    results: dict, unet: str, da, work: Path, worker_threads: int, workers: int = 1, repeat: int = 3
) -> None:
    """Bare loop and engine alternately ``repeat`` times on one warm cluster; median of the pair ratios."""
    import statistics

    from distributed import Client, LocalCluster

    bare_loop(unet, scene(1024), 1024, 64)  # warm-up: load + first call
    opts = {"chunk": 1024, "halo": 64}
    kw = {"n_workers": workers, "threads_per_worker": worker_threads, "dashboard_address": ":0"}
    bare, engine, load = [], [], []
    with LocalCluster(**kw) as cluster:
        with Client(cluster) as client:
            timed_predict(scene(1024), unet, str(work / "warm.zarr"), client=client, **opts)
            for i in range(repeat):
                bare.append(bare_loop(unet, da, 1024, 64))
                store = str(work / f"engine{i}.zarr")
                engine.append(timed_predict(da, unet, store, client=client, **opts)[0])
                load.append(round(os.getloadavg()[0], 2))
                print(f"engine vs bare  : run {i + 1}/{repeat}: bare {bare[-1]:.1f} s, engine "
                      f"{engine[-1]:.1f} s -> {bare[-1] / engine[-1]:.2f}x (load {load[-1]})")  # fmt: skip
    ratios = [b / e for b, e in zip(bare, engine, strict=True)]
    ratio = statistics.median(ratios)
    results["engine_vs_bare"] = {"scene": da.shape[-1], "workers": workers, "worker_threads": worker_threads,
                                 "bare_s": round(statistics.median(bare), 2),
                                 "engine_s": round(statistics.median(engine), 2),
                                 "throughput_ratio": round(ratio, 3), "ratios": [round(r, 3) for r in ratios],
                                 "load_avg_1min": load, "target": ">= 0.85"}  # fmt: skip
    print(f"engine vs bare  : median of {repeat}: {ratio:.2f}x (target >= 0.85)")


def _tiles_windows_resume(results: dict, unet: str, da, work: Path) -> None:
    import dask

    with dask.config.set(scheduler="threads"):
        tiles_store = str(work / "tiles.zarr")
        t_tiles, _ = timed_predict(da, unet, tiles_store, chunk=1024, halo=64)
        t_win, _ = timed_predict(da, unet, str(work / "windows.zarr"), chunk=1024, strategy="windows",
                                 window=256, halo=64)  # fmt: skip
        t_resume, summary = timed_predict(da, unet, tiles_store, chunk=1024, halo=64)
    assert summary["computed"] == 0
    results["tiles_vs_windows"] = {"scene": da.shape[-1], "tiles_s": round(t_tiles, 2),
                                   "windows_s": round(t_win, 2), "speedup": round(t_win / t_tiles, 2),
                                   "target": ">= 3"}  # fmt: skip
    results["resume"] = {"scene": da.shape[-1], "full_s": round(t_tiles, 2), "rerun_s": round(t_resume, 3),
                         "fraction": round(t_resume / t_tiles, 4), "target": "<= 0.02"}  # fmt: skip
    print(f"tiles vs windows: tiles {t_tiles:.1f} s, windows {t_win:.1f} s -> {t_win / t_tiles:.2f}x "
          "(target >= 3)")  # fmt: skip
    print(f"resume cost     : rerun {t_resume:.2f} s of {t_tiles:.1f} s -> {100 * t_resume / t_tiles:.2f} % "
          "(target <= 2 %)")  # fmt: skip


def _memory(results: dict, tiny: str, work: Path, sizes: list[int]) -> None:
    small, large = (run_memory(s, tiny, work) for s in sizes)
    ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
    results["memory"] = {"small": small, "large": large, "ratio": round(ratio, 3), "target": "<= 1.2"}
    print(f"memory          : peak RSS {small['peak_rss_mb']} MB ({small['size']}^2) vs "
          f"{large['peak_rss_mb']} MB ({large['size']}^2) -> {ratio:.2f}x (target <= 1.2)")  # fmt: skip


def headline(result: dict) -> list[dict]:
    """Headline figures for ``benchmarks.run``, from the phases present, with the issue's targets."""
    out = []
    if e := result.get("engine_vs_bare"):
        layout = f"{e['workers']} worker(s) x {e['worker_threads']} thread(s)"
        out.append(dict(name=f"engine on LocalCluster ({layout}) vs bare model loop, {e['scene']}², "
                        "throughput", value=e["engine_s"], baseline=e["bare_s"], unit="s",
                        ratio=e["throughput_ratio"], target=e["target"]))  # fmt: skip
    if t := result.get("tiles_vs_windows"):
        out.append(dict(name=f"tiles (1024 + 64 halo) vs legacy 256/128 windows, {t['scene']}², "
                        "speed-up", value=t["tiles_s"], baseline=t["windows_s"], unit="s", ratio=t["speedup"],
                        target=t["target"]))  # fmt: skip
    if r := result.get("resume"):
        out.append(dict(name=f"rerun of a finished prediction vs the run, {r['scene']}², fraction",
                        value=r["rerun_s"], baseline=r["full_s"], unit="s", ratio=r["fraction"],
                        target=r["target"]))  # fmt: skip
    if m := result.get("memory"):
        out.append(dict(name=f"peak RSS, {m['large']['size']}² vs {m['small']['size']}² scene",
                        value=m["large"]["peak_rss_mb"], baseline=m["small"]["peak_rss_mb"], unit="MB",
                        ratio=m["ratio"], target=m["target"]))  # fmt: skip
    return out


if __name__ == "__main__":
    main()
