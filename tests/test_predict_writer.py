"""Chunk writes: background writer, write failures recorded per chunk, unwritable stores refused.

Write failures of a real store are hard to provoke on demand (the tests run as root on a
local disk), so they are injected by wrapping the real ``write_chunk``: the one mock here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid

import dask
import pytest

from reefdask.errors import StoreError
from reefdask.predict import Ledger, plan_prediction, predict
from reefdask.predict.writer import ChunkWriter
from reefdask.testing.models import as_imagery, scene_array, tiny_fcn

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("models") / "fcn.keras")
    tiny_fcn(path, n_conv=2, classes=3, seed=7)
    return path


def mem() -> str:
    return f"memory://writer-{uuid.uuid4().hex[:10]}.zarr"


def image():
    return as_imagery(scene_array(48, 64, seed=6))  # 3 x 4 chunks of 16


def test_writer_runs_jobs_in_order_and_applies_back_pressure():
    writer, seen, gate = ChunkWriter(maxsize=1), [], threading.Event()
    writer.submit(lambda: (gate.wait(5), seen.append(0)))  # running, blocked
    writer.submit(lambda: seen.append(1))  # queued: the queue is now full
    t = threading.Thread(target=writer.submit, args=(lambda: seen.append(2),))
    t.start()
    time.sleep(0.2)
    assert t.is_alive() and seen == []  # the third submit waits for room
    gate.set()
    t.join(5)
    writer.flush()
    assert seen == [0, 1, 2]
    writer.close()


@pytest.mark.parametrize("background", [True, False])
def test_a_failed_chunk_write_is_recorded_and_the_run_goes_on(model, monkeypatch, background):
    import reefdask.predict.engine as engine

    real = engine.write_chunk

    def flaky(store, name, region, block, **kw):
        if name == "probabilities" and region[1].start == 16 and region[2].start == 32:
            raise OSError("injected: disk full")
        return real(store, name, region, block, **kw)

    store = mem()
    monkeypatch.setattr(engine, "write_chunk", flaky)
    with dask.config.set({"reefdask.predict.background-writes": background, "scheduler": "threads"}):
        summary = predict(image(), model, store, chunk=16).attrs["prediction_summary"]
    assert summary["counts"] == {"done": 11, "skipped": 0, "failed": 1}
    assert summary["failures"] == {"1-2": "write failed: OSError: injected: disk full"}
    monkeypatch.setattr(engine, "write_chunk", real)
    again = predict(image(), model, store, chunk=16)  # the rerun retries only the failed chunk
    assert again.attrs["prediction_summary"]["computed"] == 1
    assert again.attrs["prediction_summary"]["counts"] == {"done": 12, "skipped": 0, "failed": 0}
    assert not any(".failed." in n for n in Ledger(store).names())
    ref = predict(image(), model, mem(), chunk=16)
    assert again.probabilities.values.tobytes() == ref.probabilities.values.tobytes()


def test_background_and_inline_writes_give_identical_stores(model):
    with dask.config.set({"reefdask.predict.background-writes": False}):
        inline = predict(image(), model, mem(), chunk=16, output_dtype="float32")
    background = predict(image(), model, mem(), chunk=16, output_dtype="float32")
    for name in ("probabilities", "classes"):
        assert inline[name].values.tobytes() == background[name].values.tobytes()


def test_an_unwritable_store_is_refused_before_any_chunk_runs(model, monkeypatch):
    import reefdask.predict.engine as engine
    from reefdask.io.store_memory import MemoryStore

    store = mem()
    predict(image(), model, store, chunk=16)
    Ledger(store).clear()  # everything is to do again, on a store that now refuses writes
    Ledger(store).mark_ready()
    real = MemoryStore.publish
    calls = []

    def read_only(self, key, data, **kw):
        if "write-probe-" in key:
            raise PermissionError(f"injected: {key} is read-only")
        return real(self, key, data, **kw)

    monkeypatch.setattr(MemoryStore, "publish", read_only)
    monkeypatch.setattr(engine, "_predict", lambda *a: calls.append(a))
    with pytest.raises(StoreError, match="Cannot write to the output store .*read-only.*permissions"):
        predict(image(), model, store, chunk=16)
    assert calls == [] and Ledger(store).statuses() == {}


@pytest.mark.slow
def test_rerunning_a_finished_prediction_never_loads_tensorflow(model, tmp_path):
    store = str(tmp_path / "out.zarr")
    first = plan_prediction(image(), model, store, chunk=16)  # halo measured on the model
    predict(image(), model, store, chunk=16)
    code = (
        "import json, sys\n"
        "from reefdask.predict import plan_prediction, predict\n"
        "from reefdask.testing.models import as_imagery, scene_array\n"
        "da = as_imagery(scene_array(48, 64, seed=6))\n"
        "plan = plan_prediction(da, sys.argv[1], sys.argv[2], chunk=16)\n"
        "summary = predict(da, sys.argv[1], sys.argv[2], chunk=16).attrs['prediction_summary']\n"
        "tf = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print(json.dumps({'todo': len(plan.todo), 'halo': plan.halo, 'fingerprint': plan.fingerprint,\n"
        "                  'computed': summary['computed'], 'tf': tf}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, model, store], capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"todo": 0, "halo": first.halo, "fingerprint": first.fingerprint, "computed": 0, "tf": []}
