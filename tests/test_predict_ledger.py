"""The ledger: resume, fingerprints, overwrite, failures, stores (memory://, local, gs://)."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
import rasterio

from reefdask.errors import FingerprintMismatchError
from reefdask.predict import Ledger, plan_prediction, predict, prediction_status
from reefdask.predict.ledger import ChunkRecord
from reefdask.testing.models import as_imagery, scene_array, tiny_fcn, write_tif

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("models") / "fcn.keras")
    tiny_fcn(path, n_conv=2, classes=3, seed=3)
    return path


def mem() -> str:
    return f"memory://ledger-{uuid.uuid4().hex[:10]}.zarr"


def test_ledger_reads_all_statuses_with_one_listing(monkeypatch):
    from reefdask.io.store_memory import MemoryStore

    led = Ledger(mem())
    for r in range(40):
        for c in range(50):
            led.record(ChunkRecord(r, c, "done" if (r + c) % 7 else "skipped", run_id="x"))
    led.record(ChunkRecord(3, 5, "failed", reason="boom"))
    calls = {"list": 0, "read": 0}
    real_list = MemoryStore.list

    def counting_list(self, *a, **k):
        calls["list"] += 1
        return real_list(self, *a, **k)

    def no_read(self, *a, **k):
        calls["read"] += 1
        raise AssertionError("reading a record body while listing statuses")

    monkeypatch.setattr(MemoryStore, "list", counting_list)
    monkeypatch.setattr(MemoryStore, "read", no_read)
    monkeypatch.setattr(MemoryStore, "get", no_read)
    statuses = led.statuses()
    assert calls == {"list": 1, "read": 0}
    assert len(statuses) == 2000 and statuses[(3, 5)] == "done"  # done beats an older failure
    assert sum(s == "skipped" for s in statuses.values()) == sum(
        (r + c) % 7 == 0 for r in range(40) for c in range(50)
    )


def test_records_of_the_first_ledger_format_still_read():
    from reefdask.io.store import open_store

    store = mem()
    st = open_store(store)
    body = {"row": 1, "col": 3, "status": "failed", "reason": "old boom", "run_id": "r0", "fingerprint": "f"}
    st.publish("_ledger/r00001-c00003.failed.json", json.dumps(body).encode())
    st.publish("_ledger/r00001-c00002.done.json", json.dumps({**body, "col": 2, "status": "done"}).encode())
    led = Ledger(store)
    assert led.statuses() == {(1, 2): "done", (1, 3): "failed"}
    assert led.failures() == {(1, 3): "old boom"}
    (done,) = [r for r in led.records() if r.status == "done"]
    assert (done.row, done.col, done.run_id, done.fingerprint) == (1, 2, "r0", "f")


def test_rerun_computes_only_what_is_left(model):
    store = mem()
    da = as_imagery(scene_array(96, 96, seed=1))
    first = predict(da, model, store, chunk=32).attrs["prediction_summary"]
    assert first["computed"] == 9 and first["counts"]["done"] == 9
    before = predict(da, model, store, chunk=32)
    assert before.attrs["prediction_summary"]["computed"] == 0
    reference = before.probabilities.values.copy()
    led = Ledger(store)
    for rc in [(0, 1), (2, 2)]:  # as if killed after writing these chunks' data but not their records
        from reefdask.io.storage import filesystem

        fs, path = filesystem(led.url(*rc, "done"))
        fs.rm_file(path)
    plan = plan_prediction(da, model, store, chunk=32)
    assert plan.store_state == "resume" and sorted(plan.todo) == [(0, 1), (2, 2)]
    again = predict(da, model, store, chunk=32)
    summary = again.attrs["prediction_summary"]
    assert summary["computed"] == 2 and summary["counts"] == {"done": 9, "skipped": 0, "failed": 0}
    mine = [rec for rec in led.records() if rec.run_id == summary["run_id"]]
    assert sorted((rec.row, rec.col) for rec in mine) == [(0, 1), (2, 2)]
    assert again.probabilities.values.tobytes() == reference.tobytes()


def test_other_model_or_preprocessing_is_refused_unless_overwrite(model, tmp_path):
    store = mem()
    da = as_imagery(scene_array(64, 64, seed=2))
    ds = predict(da, model, store, chunk=32)
    old_fp, old = ds.attrs["reefdask"]["fingerprint"], ds.probabilities.values.copy()
    scaler = {"kind": "affine", "center": [100, 100, 100], "scale": [50, 50, 50]}
    new_fp = plan_prediction(da, model, mem(), chunk=32, scaler=scaler).fingerprint
    assert new_fp != old_fp
    with pytest.raises(FingerprintMismatchError) as err:
        predict(da, model, store, chunk=32, scaler=scaler)
    assert old_fp in str(err.value) and new_fp in str(err.value) and "overwrite" in str(err.value)
    other = str(tmp_path / "other.keras")
    tiny_fcn(other, n_conv=2, classes=3, seed=99)
    with pytest.raises(FingerprintMismatchError):
        plan_prediction(da, other, store, chunk=32)
    with pytest.raises(FingerprintMismatchError, match="chunk"):
        plan_prediction(da, model, store, chunk=64)
    redo = predict(da, model, store, chunk=32, scaler=scaler, overwrite=True)
    summary = redo.attrs["prediction_summary"]
    assert summary["computed"] == 4 and redo.attrs["reefdask"]["fingerprint"] == new_fp
    assert {rec.run_id for rec in Ledger(store).records()} == {summary["run_id"]}
    assert not np.array_equal(redo.probabilities.values, old)


def _corrupt_tile(path: str, row: int, col: int) -> bytes:
    """Overwrite the compressed bytes of one internal tile; return the original file."""
    original = open(path, "rb").read()
    with rasterio.open(path) as src:
        offset = int(src.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=1))
        size = int(src.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=1))
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write((b"\xff\x00garbage" * (size // 9 + 1))[:size])
    return original


def test_unreadable_block_is_recorded_failed_and_retried(model, tmp_path):
    tif = write_tif(str(tmp_path / "scene.tif"), scene_array(128, 128, seed=3))
    original = _corrupt_tile(tif, 3, 0)
    store = str(tmp_path / "out.zarr")
    ds = predict(tif, model, store, chunk=32)
    summary = ds.attrs["prediction_summary"]
    # the halo of chunk (2, 0) and (2, 1) / (3, 1) reaches into the corrupt tile too
    failed = {tuple(int(v) for v in k.split("-")) for k in summary["failures"]}
    assert failed == {(2, 0), (2, 1), (3, 0), (3, 1)}
    assert summary["counts"] == {"done": 12, "skipped": 0, "failed": 4}
    assert all("corrupt" in why or "Error" in why for why in summary["failures"].values())
    assert (ds.classes.values[96:, :32] == 255).all() and (ds.classes.values[:64] != 255).all()
    status = prediction_status(store)
    assert status["counts"] == {"done": 12, "skipped": 0, "failed": 4, "pending": 0}
    open(tif, "wb").write(original)  # the file is re-copied: a rerun retries only the failed chunks
    again = predict(tif, model, store, chunk=32).attrs["prediction_summary"]
    assert again["computed"] == 4 and again["counts"] == {"done": 16, "skipped": 0, "failed": 0}
    assert again["failures"] == {} and not any(".failed." in n for n in Ledger(store).names())
    # a stray record off the output's 4 x 4 chunk grid is not counted
    Ledger(store).record(ChunkRecord(9, 9, "failed", reason="stray"))
    status = prediction_status(store)
    assert status["counts"] == {"done": 16, "skipped": 0, "failed": 0, "pending": 0}
    assert status["failures"] == {}


def test_local_and_memory_stores_give_identical_output(model, tmp_path):
    da = as_imagery(scene_array(70, 50, seed=4, nodata_box=(0, 40, 0, 50)))
    a = predict(da, model, str(tmp_path / "a.zarr"), chunk=16)
    b = predict(da, model, mem(), chunk=16)
    assert a.probabilities.values.tobytes() == b.probabilities.values.tobytes()
    assert a.attrs["prediction_summary"]["counts"] == {"done": 12, "skipped": 8, "failed": 0}


@pytest.mark.gcs
def test_gcs_store(model, gcs_bucket):
    da = as_imagery(scene_array(48, 40, seed=5))
    store = f"{gcs_bucket}/runs/scene.zarr"
    ds = predict(da, model, store, chunk=16, output_dtype="float32")
    assert ds.attrs["prediction_summary"]["counts"]["done"] == 9
    local = predict(da, model, mem(), chunk=16, output_dtype="float32")
    np.testing.assert_array_equal(ds.probabilities.values, local.probabilities.values)
    again = predict(da, model, store, chunk=16, output_dtype="float32")
    assert again.attrs["prediction_summary"]["computed"] == 0
    assert prediction_status(store)["counts"]["done"] == 9
