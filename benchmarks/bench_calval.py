"""Benchmark: confusion matrix of 10^8 pixels, reefdask vs ``sklearn.metrics.confusion_matrix``.

Run: ``.venv/bin/python -m benchmarks.bench_calval [--quick] [--pixels N] [--threads T]``

Two uint8 class maps (15 classes, 5 % nodata = 255, the prediction agreeing on ~80 % of
pixels) are generated chunk-wise into memory (1 byte per pixel each), then, in one run and
on the same arrays:

* sklearn: ``confusion_matrix(ref.ravel(), pred.ravel(), labels=range(15))`` (samples
  whose label is not in ``labels``, i.e. nodata, are dropped: the same semantics);
* reefdask, NumPy input (one core): ``reefdask.calval.confusion(ref, pred, labels)``;
* reefdask, Dask input (``T`` threads, 4096² chunks, tree reduction);
* reefdask, Dask input with per-row ground areas (the km² matrix as well).

The matrices must be equal. ``np.bincount`` holds the GIL, so Dask *threads* barely add
throughput: parallelism comes from worker processes (LocalCluster, SLURM workers), and the
one-core figure is the per-core rate. Figures (seconds, pixels/s, pixels/s/core, speed-ups) go to
``benchmarks/results/calval.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

RESULTS = Path(os.environ.get("REEFDASK_BENCH_RESULTS") or Path(__file__).parent / "results") / "calval.json"
N_CLASSES = 15


def make_maps(pixels: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two (side, side) uint8 maps, filled slab by slab (no int64 temporaries of full size)."""
    side = round(pixels**0.5)
    ref = np.empty((side, side), dtype=np.uint8)
    pred = np.empty((side, side), dtype=np.uint8)
    rng = np.random.default_rng(seed)
    step = max(1, (1 << 22) // side)
    for r0 in range(0, side, step):
        r1 = min(side, r0 + step)
        shape = (r1 - r0, side)
        r = rng.integers(0, N_CLASSES, size=shape, dtype=np.uint8)
        r[rng.random(shape) < 0.03] = 255
        p = r.copy()
        flip = rng.random(shape) < 0.2
        p[flip] = rng.integers(0, N_CLASSES, size=int(flip.sum()), dtype=np.uint8)
        p[rng.random(shape) < 0.02] = 255
        ref[r0:r1], pred[r0:r1] = r, p
    return ref, pred


def headline(result: dict) -> list[dict]:
    """Headline figures for ``benchmarks.run``: throughput vs sklearn on the same maps (target >= 20x)."""
    mpx = {k: v / 1e6 for k, v in result["pixels_per_s"].items()}
    speed = result["speedup_vs_sklearn"]
    what = f"confusion matrix of {result['pixels'] / 1e6:,.0f} Mpx vs sklearn, reefdask"
    rows = [
        ("on 1 core (NumPy)", mpx["reefdask_numpy"], speed["reefdask_numpy_1core"], ">= 20"),
        (f"on Dask ({result['threads']} threads)", mpx["reefdask_dask"], speed["reefdask_dask"], ">= 20"),
        ("on Dask, with km² areas too", mpx["reefdask_dask_km2"], speed["reefdask_dask_km2"], None),
    ]
    return [
        dict(name=f"{what} {how}", value=v, baseline=mpx["sklearn"], unit="Mpx/s", ratio=r, target=t)
        for how, v, r, t in rows
    ]


def _timed(fn, repeat: int = 1):  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10^7 pixels instead of 10^8.")
    ap.add_argument("--pixels", type=float, default=None, help="Pixels (default 1e8; 1e7 with --quick).")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="Dask threads.")
    ap.add_argument("--chunk", type=int, default=4096, help="Dask chunk side.")
    args = ap.parse_args()
    pixels = int(args.pixels or (1e7 if args.quick else 1e8))

    import dask
    import dask.array as dsa
    from sklearn.metrics import confusion_matrix

    from reefdask.calval.area import PixelAreas
    from reefdask.calval.confusion import confusion

    t0 = time.perf_counter()
    ref, pred = make_maps(pixels)
    n = ref.size
    print(f"generated 2 x {n:,} uint8 pixels in {time.perf_counter() - t0:.1f} s")
    labels = list(range(N_CLASSES))

    t_np, cm_np = _timed(lambda: confusion(ref, pred, labels), repeat=2)
    print(f"reefdask numpy (1 core):     {t_np:7.2f} s  {n / t_np / 1e6:8.1f} Mpx/s")
    dref = dsa.from_array(ref, chunks=args.chunk)
    dpred = dsa.from_array(pred, chunks=args.chunk)
    with dask.config.set(scheduler="threads", num_workers=args.threads):
        t_dask, cm_dask = _timed(lambda: confusion(dref, dpred, labels), repeat=2)
        print(f"reefdask dask ({args.threads} threads):  {t_dask:7.2f} s  {n / t_dask / 1e6:8.1f} Mpx/s")
        areas = PixelAreas((4.777, 0, -9.75e6, 0, -4.777, 1.96e6), "EPSG:3857", width=ref.shape[1])
        t_area, cm_area = _timed(lambda: confusion(dref, dpred, labels, areas=areas), repeat=1)
        print(f"reefdask dask + km²:         {t_area:7.2f} s  {n / t_area / 1e6:8.1f} Mpx/s")
    t_sk, cm_sk = _timed(lambda: confusion_matrix(ref.ravel(), pred.ravel(), labels=labels), repeat=1)
    print(f"sklearn confusion_matrix:    {t_sk:7.2f} s  {n / t_sk / 1e6:8.1f} Mpx/s")
    for cm in (cm_np, cm_dask, cm_area):
        assert np.array_equal(cm.counts, cm_sk), "reefdask and sklearn disagree"
    result = {
        "pixels": n,
        "classes": N_CLASSES,
        "chunk": args.chunk,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "seconds": {
            "sklearn": t_sk,
            "reefdask_numpy": t_np,
            "reefdask_dask": t_dask,
            "reefdask_dask_km2": t_area,
        },
        "pixels_per_s": {
            "sklearn": n / t_sk,
            "reefdask_numpy": n / t_np,
            "reefdask_dask": n / t_dask,
            "reefdask_dask_km2": n / t_area,
        },
        "pixels_per_s_per_core": {
            "sklearn": n / t_sk,
            "reefdask_numpy": n / t_np,
            "reefdask_dask": n / t_dask / args.threads,
            "reefdask_dask_km2": n / t_area / args.threads,
        },
        "speedup_vs_sklearn": {
            "reefdask_numpy_1core": t_sk / t_np,
            "reefdask_dask": t_sk / t_dask,
            "reefdask_dask_km2": t_sk / t_area,
        },
        "matrices_equal": True,
        "load_average_1min": os.getloadavg()[0],  # the CPU is shared: > cpu_count means contention
        "command": "python -m benchmarks.bench_calval" + (" --quick" if args.quick else ""),
    }
    print(
        f"speed-up vs sklearn: {t_sk / t_np:.1f}x on one core, {t_sk / t_dask:.1f}x with "
        f"{args.threads} threads ({t_sk / t_area:.1f}x with km²); {n / t_np / 1e6:.0f} Mpx/s/core"
    )
    result["headline"] = headline(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
