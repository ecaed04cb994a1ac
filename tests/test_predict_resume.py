"""Kill a prediction with SIGKILL and resume it; two processes predicting into one store at once.

The killed run leaves claims behind: they name a dead process of this host, so the rerun
takes them over at once (no waiting for them to expire).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import dask
import dask.array as dsa
import pytest
import xarray as xr

from reefdask.predict import Ledger, predict
from reefdask.testing.models import as_imagery, scene_array, tiny_fcn

pytestmark = [pytest.mark.tf, pytest.mark.slow]

H, W, CHUNK = 128, 160, 32  # 4 x 5 = 20 chunks
SCRIPT = """
import json, sys, time
import dask, dask.array as dsa
from reefdask.predict import predict
from reefdask.testing.models import as_imagery, scene_array

def slow(block):  # slow storage: every source block takes a while to read
    time.sleep({delay})
    return block

img = scene_array({h}, {w}, seed=11, nodata_box=(0, 40, 0, 40))
arr = dsa.from_array(img, chunks=(3, {chunk}, {chunk})).map_blocks(slow, dtype="uint8")
with dask.config.set(scheduler="{scheduler}"):
    ds = predict(as_imagery(arr), sys.argv[1], sys.argv[2], chunk={chunk})
summary = ds.attrs["prediction_summary"]
print(json.dumps(summary))
sys.exit(0 if summary["counts"]["failed"] == 0 else 1)
"""


def write_script(tmp_path, delay: float, scheduler: str = "sync") -> str:
    path = tmp_path / f"run_{scheduler}_{delay}.py"
    path.write_text(SCRIPT.format(delay=delay, h=H, w=W, chunk=CHUNK, scheduler=scheduler))
    return str(path)


def run_here(model: str, store: str, delay: float = 0.0, scheduler: str = "sync"):
    """The same prediction as SCRIPT, in this process."""

    def slow(block):
        time.sleep(delay)
        return block

    img = scene_array(H, W, seed=11, nodata_box=(0, 40, 0, 40))
    arr = dsa.from_array(img, chunks=(3, CHUNK, CHUNK)).map_blocks(slow, dtype="uint8")
    with dask.config.set(scheduler=scheduler):
        return predict(as_imagery(arr), model, store, chunk=CHUNK)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("models") / "fcn.keras")
    tiny_fcn(path, n_conv=2, classes=3, seed=5)
    return path


def env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": os.getcwd()}


def test_sigkill_then_resume_computes_only_missing_chunks_and_matches(model, tmp_path):
    store = str(tmp_path / "killed.zarr")
    script = write_script(tmp_path, delay=0.05)
    proc = subprocess.Popen(
        [sys.executable, script, model, store], env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    ledger = Ledger(store)
    deadline = time.monotonic() + 240
    while len(ledger.statuses()) < 5:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = ledger.statuses()
    assert 5 <= len(before) < 20, "the kill should land mid-run"
    summary = run_here(model, store, delay=0.0).attrs["prediction_summary"]  # the rerun
    missing = {(r, c) for r in range(4) for c in range(5)} - set(before)
    by_rerun = {(rec.row, rec.col) for rec in ledger.records() if rec.run_id == summary["run_id"]}
    assert by_rerun == missing  # only the chunks not in the ledger were computed
    assert summary["counts"] == {"done": 19, "skipped": 1, "failed": 0}
    ref = run_here(model, str(tmp_path / "ref.zarr"))
    out = xr.open_zarr(store, consolidated=False, zarr_format=3)
    for name in ("probabilities", "classes"):
        assert out[name].values.tobytes() == ref[name].values.tobytes()


def test_two_processes_into_one_store(model, tmp_path):
    """A subprocess and this process predict into one store at the same time."""
    store = str(tmp_path / "shared.zarr")
    script = write_script(tmp_path, delay=0.03, scheduler="sync")
    proc = subprocess.Popen(
        [sys.executable, script, model, store], env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    ledger, deadline = Ledger(store), time.monotonic() + 240
    while not ledger.statuses():  # the other process is writing: start the second run now
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the subprocess never got going"
        time.sleep(0.05)
    here = run_here(model, store, delay=0.03).attrs["prediction_summary"]
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    there = json.loads(out.decode().strip().splitlines()[-1])
    for summary in (here, there):
        assert summary["counts"] == {"done": 19, "skipped": 1, "failed": 0}
    # both did real work, and no chunk twice: chunks are claimed
    assert here["computed"] > 0 and here["computed"] + there["computed"] == 19
    ref = run_here(model, str(tmp_path / "ref.zarr"))
    out_ds = xr.open_zarr(store, consolidated=False, zarr_format=3)
    for name in ("probabilities", "classes"):
        assert out_ds[name].values.tobytes() == ref[name].values.tobytes()
