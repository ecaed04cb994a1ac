"""Training benchmarks: the Zarr-streaming input pipeline, and sample building at 1x and 8x.

1. Training steps/s of a small U-Net fed by the ``tf.data`` pipeline streaming from the
   Zarr sample store, against the same model fed from the same samples held in memory
   as NumPy arrays (target ratio >= 0.9: the pipeline is not the bottleneck). Each run
   is one ``model.fit`` of ``warm + steps`` steps of which only the last ``steps`` are
   timed (a callback), so iterator start-up (shuffle buffer fill, first prefetch) and
   fit's set-up stay out: the figure is the steady-state rate. Runs come in rounds of
   pairs with the same number of steps, interleaved in alternating order (stream-memory,
   memory-stream, ...); the figure is the median over rounds of each pair's ratio, so
   load from other processes, which hits both runs of a pair alike, cancels out
   (quartiles of the ratios are reported too).
2. Sample building: windows/s, and the peak RSS of a build process when the store grows
   8x (8x the scenes and the quota, same chunking): target ratio <= 1.2.

Run: ``.venv/bin/python -m benchmarks.bench_train [--quick]``; figures go to
``benchmarks/results/train.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULTS_DIR = os.environ.get("REEFDASK_BENCH_RESULTS") or Path(__file__).resolve().parent / "results"
RESULTS = Path(RESULTS_DIR) / "train.json"


def _samples_cfg(root: Path, n_quads: int, size: int, per_quad: int, name: str) -> dict:
    from reefdask.synthetic import synth_quads

    quads = synth_quads(root / f"scenes-{n_quads}", quads=n_quads, size=size, seed=5)
    return dict(
        store=str(root / f"{name}.zarr"),
        scenes=[{"features": q.image, "labels": q.label} for q in quads],
        window_radius=32,
        loss_window_radius=16,
        stride=16,
        max_samples=per_quad * n_quads,
        max_per_scene=per_quad,
        n_folds=5,
        fold_block=128,
        chunk_samples=32,
    )


def build_child(cfg_json: str) -> None:
    """Build one store in this (fresh) process and print its timing and peak RSS."""
    from reefdask.train.config import SamplesConfig
    from reefdask.train.samples import build_samples

    t = time.perf_counter()
    r = build_samples(SamplesConfig(**json.loads(cfg_json)))
    secs = time.perf_counter() - t
    # VmHWM: this process's own peak (ru_maxrss would keep the forking parent's peak across exec)
    status = Path("/proc/self/status").read_text().splitlines()
    hwm = next(line for line in status if line.startswith("VmHWM"))
    rss_mb = int(hwm.split()[1]) / 1024
    print(
        json.dumps(
            {"samples": r.n_samples, "candidates": r.candidates, "seconds": secs, "peak_rss_mb": rss_mb}
        )
    )


def bench_building(root: Path, quick: bool) -> dict:
    size, base_quads, per_quad = (256, 1, 40) if quick else (512, 2, 120)
    out = {}
    for factor in (1, 8):
        cfg = _samples_cfg(root, base_quads * factor, size, per_quad, f"build-{factor}x")
        p = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_train", "--build-child", json.dumps(cfg)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(p.stdout.strip().splitlines()[-1])
        r["windows_per_s"] = r["samples"] / r["seconds"]
        r["candidates_per_s"] = r["candidates"] / r["seconds"]
        out[f"{factor}x"] = r
    out["rss_ratio_8x_over_1x"] = out["8x"]["peak_rss_mb"] / out["1x"]["peak_rss_mb"]
    return out


def bench_pipeline(root: Path, quick: bool) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from reefdask.train.architectures import build_model
    from reefdask.train.config import ArchSpec, SamplesConfig
    from reefdask.train.dataset import load_piece, make_dataset
    from reefdask.train.losses import WeightedCCE
    from reefdask.train.samples import build_samples
    from reefdask.train.scalers import fit_scaler
    from reefdask.train.store import open_samples

    cfg = _samples_cfg(root, 4, 256 if quick else 512, 60 if quick else 150, "pipeline")
    build_samples(SamplesConfig(**cfg))
    store = open_samples(cfg["store"])
    scaler = fit_scaler("robust", store.dask("features", "train"), store.attrs["feature_nodata"])
    batch, steps, rounds, warm = 16, (15 if quick else 30), (5 if quick else 9), 5
    xs, ys = zip(*(load_piece(store, scaler, a, b) for a, b in store.ranges("train")), strict=True)
    x, y = np.concatenate(xs), np.concatenate(ys)
    memory = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(256)
        .batch(batch, drop_remainder=True)
        .repeat()
        .prefetch(tf.data.AUTOTUNE)
    )
    stream = make_dataset(store, "train", scaler, batch_size=batch, shuffle=True, repeat=True)
    keras.utils.set_random_seed(0)
    model = build_model(ArchSpec(name="unet", filters=8, blocks=[2, 2, 2], growth=2), store.n_bands, 14)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=WeightedCCE(crop=16))
    class StepTimer(keras.callbacks.Callback):
        """Wall time from the start of batch ``warm`` to the end of the last batch of a fit."""

        t0 = seconds = 0.0

        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            if batch == warm:
                self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.seconds = time.perf_counter() - self.t0

    timer = StepTimer()

    whole: dict[str, list[float]] = {"stream": [], "memory": []}

    def rate(name: str, ds: Any) -> float:
        # a fit of warm + steps steps; only the last `steps` count: iterator start-up (shuffle
        # buffer fill, first prefetch) and fit's own set-up stay out of the figure
        t = time.perf_counter()
        model.fit(ds, steps_per_epoch=warm + steps, epochs=1, shuffle=False, verbose=0, callbacks=[timer])
        whole[name].append((warm + steps) / (time.perf_counter() - t))  # start-up included, for reference
        return steps / timer.seconds

    rate("memory", memory)  # trace the train step once
    whole["memory"].clear()
    runs: dict[str, list[float]] = {"stream": [], "memory": []}
    ratios = []
    inputs = {"stream": stream, "memory": memory}
    for r in range(rounds):
        # paired, interleaved, order alternating (stream-memory, memory-stream, ...): load
        # and drift from other processes hit both runs of a pair alike
        order = ("stream", "memory") if r % 2 == 0 else ("memory", "stream")
        pair = {name: rate(name, inputs[name]) for name in order}
        for name, v in pair.items():
            runs[name].append(v)
        ratios.append(pair["stream"] / pair["memory"])
    return {
        "train_samples": len(x),
        "batch": batch,
        "window": store.window,
        "steps_timed": steps,
        "rounds": rounds,
        "warmup_steps": warm,
        "stream_steps_per_s": float(np.median(runs["stream"])),
        "memory_steps_per_s": float(np.median(runs["memory"])),
        "ratio_stream_over_memory": float(np.median(ratios)),
        "ratio_quartiles": [float(q) for q in np.percentile(ratios, [25, 75])],
        "ratios": ratios,
        # whole fits (start-up and set-up included): what the figure was before it was steady-state
        "whole_fit_ratio": float(np.median(np.array(whole["stream"]) / np.array(whole["memory"]))),
    }


def headline(result: dict) -> list[dict]:
    """Headline figures for ``benchmarks.run``: streaming vs in-memory steps/s; building memory and rate."""
    p, b = result["pipeline"], result["building"]
    return [
        dict(name="training input: Zarr-streaming vs in-memory NumPy, steps/s", value=p["stream_steps_per_s"],
             baseline=p["memory_steps_per_s"], unit="steps/s", ratio=p["ratio_stream_over_memory"],
             target=">= 0.9"),
        dict(name="sample building: peak RSS, store 8x vs 1x", value=b["8x"]["peak_rss_mb"],
             baseline=b["1x"]["peak_rss_mb"], unit="MB", ratio=b["rss_ratio_8x_over_1x"], target="<= 1.2"),
        dict(name=f"sample building rate, 8x store ({b['8x']['samples']} windows)",
             value=b["8x"]["windows_per_s"], baseline=None, unit="windows/s", ratio=None, target=None),
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--build-child")
    args = ap.parse_args()
    if args.build_child:
        build_child(args.build_child)
        return
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        root = Path(tmp)
        res = {
            "quick": args.quick,
            "pipeline": bench_pipeline(root, args.quick),
            "building": bench_building(root, args.quick),
            "cpus": os.cpu_count(),
        }
    res["headline"] = headline(res)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2))
    p, b = res["pipeline"], res["building"]
    print(
        f"input pipeline: stream {p['stream_steps_per_s']:.2f} steps/s, memory {p['memory_steps_per_s']:.2f} "
        f"steps/s, ratio {p['ratio_stream_over_memory']:.2f} (median of {p['rounds']} paired rounds, "
        f"quartiles {p['ratio_quartiles'][0]:.2f}-{p['ratio_quartiles'][1]:.2f}; target >= 0.9)"
    )
    for k in ("1x", "8x"):
        print(
            f"sample building {k}: {b[k]['samples']} windows in {b[k]['seconds']:.1f} s = "
            f"{b[k]['windows_per_s']:.1f} windows/s, peak RSS {b[k]['peak_rss_mb']:.0f} MB"
        )
    print(f"peak RSS 8x / 1x: {b['rss_ratio_8x_over_1x']:.2f} (target <= 1.2); written to {RESULTS}")


if __name__ == "__main__":
    main()
