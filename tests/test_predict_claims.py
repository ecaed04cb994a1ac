"""Chunks are claimed: two predictions into one new store compute every chunk exactly once.

Two runs start together on two threads (each its own ``predict`` call, run id and
threaded scheduler) into one local store, on a source slow enough that they overlap.
Before claims each run computed every chunk (right output, all work twice); now each
chunk's record names the one run that computed it, the runs' ``computed`` add up to the
chunk count, and the output equals a single run's byte for byte.
"""

from __future__ import annotations

import threading
import time

import dask
import dask.array as dsa
import pytest
import xarray as xr

from reefdask.predict import Ledger, predict
from reefdask.testing.models import as_imagery, scene_array, tiny_fcn

pytestmark = pytest.mark.tf

H, W, CHUNK = 64, 96, 16  # 4 x 6 = 24 chunks, 2 of them all nodata


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("models") / "fcn.keras")
    tiny_fcn(path, n_conv=2, classes=3, seed=5)
    return path


def imagery(delay: float):
    def slow(block):
        time.sleep(delay)
        return block

    img = scene_array(H, W, seed=11, nodata_box=(0, 16, 0, 32))
    return as_imagery(dsa.from_array(img, chunks=(3, CHUNK, CHUNK)).map_blocks(slow, dtype="uint8"))


def test_two_concurrent_runs_compute_each_chunk_once(model, tmp_path):
    store = str(tmp_path / "shared.zarr")
    start, summaries, errors = threading.Barrier(2), {}, []

    def run(name: str) -> None:
        try:
            start.wait()
            with dask.config.set(scheduler="threads", num_workers=2):
                ds = predict(imagery(0.02), model, store, chunk=CHUNK)
            summaries[name] = ds.attrs["prediction_summary"]
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors, errors
    a, b = summaries["a"], summaries["b"]
    assert a["run_id"] != b["run_id"]
    for s in (a, b):  # each run ends with the whole store finished (it waited for the other's chunks)
        assert s["counts"] == {"done": 22, "skipped": 2, "failed": 0}
    assert a["computed"] + b["computed"] == 22  # every non-empty chunk computed exactly once
    by_run: dict[str, set[tuple[int, int]]] = {}
    for rec in Ledger(store).records():
        by_run.setdefault(rec.run_id, set()).add((rec.row, rec.col))
    assert set(by_run) <= {a["run_id"], b["run_id"]}
    assert sum(len(v) for v in by_run.values()) == 24  # one record per chunk, by the run that did it
    assert not Ledger(store).backend.list("_ledger/_claims/")  # every claim was given back

    ref = predict(imagery(0.0), model, str(tmp_path / "ref.zarr"), chunk=CHUNK)
    out = xr.open_zarr(store, consolidated=False, zarr_format=3)
    for name in ("probabilities", "classes"):
        assert out[name].values.tobytes() == ref[name].values.tobytes()


def test_a_chunk_held_by_a_live_claim_waits_and_an_expired_one_is_taken_over(model, tmp_path):
    """A claim of another (live) run keeps this run off the chunk until it expires."""
    store = str(tmp_path / "held.zarr")
    predict(imagery(0.0), model, store, chunk=CHUNK)  # the template and every record
    led = Ledger(store)
    led.backend.remove("_ledger/r00002-c00003.done.json")  # pending again ...
    with dask.config.set({"reefdask.predict.claim-ttl": 1.5, "reefdask.predict.claim-poll": 0.2}):
        other = Ledger(store).claim(2, 3, owner="another-run")  # ... and claimed by a live run
        assert other is not None
        seen = []
        ds = predict(imagery(0.0), model, store, chunk=CHUNK, progress=seen.append)
        summary = ds.attrs["prediction_summary"]
    # it waited for the claim to expire (the held chunk is not reported), then took it over
    assert [(p["row"], p["col"], p["status"]) for p in seen] == [(2, 3, "done")]
    assert summary["computed"] == 1 and summary["counts"]["done"] == 22
    (rec,) = [r for r in Ledger(store).records() if (r.row, r.col) == (2, 3)]
    assert rec.run_id == summary["run_id"]
    with pytest.raises(Exception, match="taken over"):
        other.check()  # the stale holder can no longer record anything
