"""The engine's outputs: chunk invariance, strategies, nodata, grid; real tiny Keras models."""

from __future__ import annotations

import uuid

import dask
import numpy as np
import pytest
import xarray as xr
from distributed.diagnostics.plugin import SchedulerPlugin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reefdask.predict import plan_prediction, predict
from reefdask.predict.graph import keys_of, status_array
from reefdask.testing.models import as_imagery, fixed_window, scene_array, tiny_fcn

pytestmark = pytest.mark.tf


def imagery(img: np.ndarray, nodata: int = 0) -> xr.DataArray:
    return as_imagery(img, nodata=nodata)


def reference(model, img: np.ndarray, halo: int, stride: int = 1, nodata: int = 0) -> np.ndarray:
    """One model call on the whole scene, padded by the halo with the nodata encoding (-10)."""
    _, h, w = img.shape
    valid = ~(img == nodata).all(axis=0)
    x = np.moveaxis(img.astype("float32"), 0, -1)
    x[~valid] = -10.0
    ty, tx = -(-(h + 2 * halo) // stride) * stride, -(-(w + 2 * halo) // stride) * stride
    x = np.pad(x, ((halo, ty - h - halo), (halo, tx - w - halo), (0, 0)), constant_values=-10.0)
    p = model(x[None], training=False).numpy()[0, halo : halo + h, halo : halo + w]
    p = np.moveaxis(p, -1, 0).copy()
    p[:, ~valid] = np.nan
    return p


@pytest.fixture(scope="module")
def fcn(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("models") / "fcn.keras")
    return path, tiny_fcn(path, n_conv=3, classes=4, seed=1)


@pytest.fixture(scope="module")
def pooled(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("models") / "pooled.keras")
    return path, tiny_fcn(path, n_conv=2, pool=True, classes=3, seed=2)


def mem() -> str:
    return f"memory://pred-{uuid.uuid4().hex[:10]}.zarr"


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    h=st.integers(20, 80),
    w=st.integers(20, 80),
    chunk=st.sampled_from([8, 16, 24, 40]),
    seed=st.integers(0, 9),
)
def test_chunked_float32_equals_whole_scene_call(fcn, h, w, chunk, seed):
    path, model = fcn
    img = scene_array(h, w, seed=seed, nodata_box=(0, h // 3, 0, w // 4))
    with dask.config.set(scheduler="sync"):
        ds = predict(imagery(img), path, mem(), chunk=chunk, output_dtype="float32")
    assert ds.attrs["prediction_summary"]["counts"]["failed"] == 0
    halo = plan_prediction(imagery(img), path, mem(), chunk=chunk).halo
    assert halo >= 3  # three 3x3 convolutions: measured receptive field
    np.testing.assert_allclose(ds.probabilities.values, reference(model, img, halo), atol=1e-5)


def test_strided_model_is_chunk_invariant(pooled):
    path, model = pooled
    img = scene_array(50, 70, seed=4)
    with pytest.raises(Exception, match="multiple of the model's stride"):
        plan_prediction(imagery(img), path, mem(), chunk=15)
    plan = plan_prediction(imagery(img), path, mem(), chunk=16, halo=7)
    assert plan.stride == 2 and plan.halo == 8  # rounded up to the stride
    ds = predict(imagery(img), path, mem(), chunk=16, halo=7, output_dtype="float32")
    np.testing.assert_allclose(ds.probabilities.values, reference(model, img, 8, stride=2), atol=1e-5)


def test_nodata_in_input_is_nodata_in_every_output(fcn):
    path, _ = fcn
    img = scene_array(64, 64, seed=5, nodata_box=(0, 32, 0, 32))  # chunk (0, 0) entirely nodata
    img[:, 40, 50] = 0
    for dtype in ("uint8", "float32"):
        ds = predict(imagery(img), path, mem(), chunk=32, output_dtype=dtype)
        counts = ds.attrs["prediction_summary"]["counts"]
        assert counts == {"done": 3, "skipped": 1, "failed": 0}
        prob, cls = ds.probabilities.values, ds.classes.values
        invalid = (img == 0).all(axis=0)
        assert cls.dtype == np.uint8 and (cls[invalid] == 255).all() and (cls[~invalid] != 255).all()
        assert set(np.unique(cls[~invalid])) <= {1, 2, 3, 4}
        if dtype == "uint8":
            assert prob.dtype == np.uint8 and (prob[:, invalid] == 255).all()
            assert prob[:, ~invalid].max() <= 100
            assert np.abs(prob[:, ~invalid].astype(int).sum(axis=0) - 100).max() <= 2
        else:
            assert np.isnan(prob[:, invalid]).all() and not np.isnan(prob[:, ~invalid]).any()


def test_output_is_on_the_imagery_grid(fcn):
    path, _ = fcn
    da = imagery(scene_array(40, 50, seed=6))
    ds = predict(da, path, mem(), chunk=16)
    assert ds.probabilities.dims == ("class", "y", "x") and ds.classes.dims == ("y", "x")
    assert ds.probabilities.dtype == np.uint8 and ds.sizes == {"class": 4, "y": 40, "x": 50}
    np.testing.assert_array_equal(ds.y.values, da.y.values)
    np.testing.assert_array_equal(ds.x.values, da.x.values)
    assert ds.probabilities.encoding["chunks"] == (4, 16, 16)
    assert ds.rio.crs.to_epsg() == 3857
    assert ds.attrs["reefdask"]["fingerprint"] == ds.attrs["prediction_summary"]["fingerprint"]


def test_windows_centre_crop_equals_tiles(fcn, tmp_path):
    """A fixed-input copy of the net, run as legacy windows, reproduces the tiles result."""
    path, model = fcn
    win = str(tmp_path / "win.keras")
    fixed_window(model, 24, win)
    img = scene_array(60, 70, seed=7, nodata_box=(50, 60, 0, 10))
    with pytest.raises(Exception, match="multiple of the window step 16"):
        plan_prediction(imagery(img), win, mem(), chunk=24, halo=4)
    plan = plan_prediction(imagery(img), win, mem(), chunk=32, halo=4)
    assert (plan.strategy, plan.window, plan.step, plan.halo) == ("centre", 24, 16, 4)
    ds_w = predict(imagery(img), win, mem(), chunk=32, halo=4, output_dtype="float32")
    ds_t = predict(imagery(img), path, mem(), chunk=32, halo=4, output_dtype="float32")
    np.testing.assert_allclose(ds_w.probabilities.values, ds_t.probabilities.values, atol=1e-5)


def test_windows_blend_is_chunk_invariant_and_normalised(fcn, tmp_path):
    _, model = fcn
    win = str(tmp_path / "win16.keras")
    fixed_window(model, 16, win)
    img = scene_array(50, 45, seed=8)
    a = predict(imagery(img), win, mem(), chunk=16, window_mode="blend", output_dtype="float32")
    b = predict(imagery(img), win, mem(), chunk=32, window_mode="blend", output_dtype="float32")
    pa, pb = a.probabilities.values, b.probabilities.values
    np.testing.assert_allclose(pa, pb, atol=1e-5)
    np.testing.assert_allclose(pa.sum(axis=0), 1.0, atol=1e-4)
    # blending differs from a single centre crop, but not by much for a smooth tiny net
    c = predict(imagery(img), win, mem(), chunk=16, output_dtype="float32").probabilities.values
    assert 0 < np.abs(pa - c).max() < 0.5


def test_fully_convolutional_windows_need_a_window_size(fcn):
    path, _ = fcn
    da = imagery(scene_array(32, 32))
    with pytest.raises(Exception, match="window size"):
        plan_prediction(da, path, mem(), chunk=32, strategy="windows")
    plan = plan_prediction(da, path, mem(), chunk=32, strategy="windows", window=16)
    assert (plan.strategy, plan.window, plan.step, plan.halo) == ("centre", 16, 8, 4)


def test_plan_is_readable_and_computes_nothing(fcn, monkeypatch):
    import reefdask.predict.engine as engine
    from reefdask.predict.graph import ChunkWindows, materialize

    path, _ = fcn
    store = mem()
    plan = plan_prediction(imagery(scene_array(70, 40)), path, store, chunk=32)
    text = str(plan)
    assert "grid 3 x 2 = 6 chunks" in text and "6 to do" in text and plan.fingerprint in text
    assert "tiles" in text and plan._repr_html_().startswith("<pre>")
    assert plan.todo == plan.chunks and plan.store_state == "new"
    from reefdask.io.storage import exists

    assert not exists(store)
    ran, windows = [], []
    monkeypatch.setattr(engine, "run_chunk", lambda *a: ran.append(a))  # the model must never run here
    real_window = ChunkWindows.__getitem__
    monkeypatch.setattr(ChunkWindows, "__getitem__", lambda w, i: windows.append(i) or real_window(w, i))
    status = status_array(plan, "run")  # the chunk grid as a lazy int8 status array: nothing runs
    assert status.shape == status.numblocks == plan.grid and status.dtype == np.int8
    keys = keys_of(status, plan.todo)
    assert keys[0] == ("predict-test", 0, 0) and keys[-1] == ("predict-test", 2, 1)
    assert set(keys) == set(dask.core.flatten(status.__dask_keys__()))
    # a batch's graph holds its own chunks' tasks only, and only they get a read window
    tasks = materialize(status, keys[2:4])
    assert set(tasks) == set(keys[2:4]) and sorted(windows) == [(1, 0), (1, 1)]
    assert ran == [] and not exists(store)  # the explicit template: no block ran to guess the output


@pytest.mark.slow
def test_runs_on_a_distributed_cluster(fcn):
    from distributed import Client, LocalCluster

    path, model = fcn
    img = scene_array(48, 48, seed=9)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            ds = predict(imagery(img), path, mem(), chunk=16, output_dtype="float32", client=client)
            assert any(
                name.startswith("reefdask-model")
                for name in client.run(lambda dask_worker: list(dask_worker.plugins)).popitem()[1]
            )
    halo = ds.attrs["reefdask"]["config"]["halo"]
    np.testing.assert_allclose(ds.probabilities.values, reference(model, img, halo), atol=1e-5)


class _Restrictions(SchedulerPlugin):
    """Scheduler plugin recording the resource restrictions of predict tasks."""

    name = "restrictions"

    def __init__(self):
        self.seen = {}
        self.scheduler = None

    def transition(self, key, start, finish, *args, **kwargs):
        if "predict-" in str(key) and finish == "processing":
            self.seen[str(key)] = dict(self.scheduler.tasks[key].resource_restrictions or {})

    async def start(self, scheduler):
        self.scheduler = scheduler


def test_model_tasks_ask_for_gpu_workers_when_the_cluster_has_them(fcn):
    import dask
    from distributed import Client, LocalCluster

    from reefdask.predict.run import task_resources

    path, model = fcn
    img = scene_array(32, 32, seed=4)
    kw = dict(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)
    with LocalCluster(resources={"GPU": 1}, **kw) as cluster, Client(cluster) as client:
        assert task_resources(client) == {"GPU": 1}
        with dask.config.set({"reefdask.predict.resources": {}}):
            assert task_resources(client) is None
        client.register_plugin(_Restrictions())
        ds = predict(imagery(img), path, mem(), chunk=16, output_dtype="float32", client=client)
        asked = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.plugins["restrictions"].seen)
        assert len(asked) == 4  # every chunk task reached the scheduler asking for a GPU
        assert all(r == {"GPU": 1} for r in asked.values())
    with LocalCluster(**kw) as cluster, Client(cluster) as client:
        assert task_resources(client) is None
    halo = ds.attrs["reefdask"]["config"]["halo"]
    np.testing.assert_allclose(ds.probabilities.values, reference(model, img, halo), atol=1e-5)


def test_predict_is_lazy_about_tensorflow_and_callable_from_the_top():
    import subprocess
    import sys

    code = (
        "import sys, reefdask, reefdask.predict\n"
        "assert callable(reefdask.predict) and callable(reefdask.plan_prediction)\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tf_threads_share_the_host_twice_over(monkeypatch):
    import os
    from types import SimpleNamespace

    import dask

    from reefdask.predict.model import ModelPlugin

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    worker = SimpleNamespace(address="tcp://10.0.0.5:4000", state=SimpleNamespace(nthreads=2))
    plugin = ModelPlugin("m.keras", "k", threads_by_host={"10.0.0.5": 8})
    assert plugin.tf_threads(worker) == 2  # 8 cores / 8 Dask threads on the host, x 2
    assert ModelPlugin("m.keras", "k", threads_by_host={"10.0.0.5": 2}).tf_threads(worker) == 8  # capped
    assert ModelPlugin("m.keras", "k").tf_threads(worker) == 8  # unknown host: its own 2 threads
    assert ModelPlugin("m.keras", "k", threads_by_host={"10.0.0.5": 16}).tf_threads(worker) == 1
    with dask.config.set({"reefdask.predict.tf-threads": 3}):
        assert plugin.tf_threads(worker) == 3


def test_workers_undo_the_nannys_tiny_malloc_trim_threshold():
    import os
    import subprocess
    import sys

    code = "from reefdask.predict.model import relax_malloc_trim; print(relax_malloc_trim())"
    run = lambda env: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    base = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    assert run({**base, "MALLOC_TRIM_THRESHOLD_": "65536"}) == "True"  # as a Dask nanny sets it
    assert run(base) == "False"  # glibc's own adaptive defaults are left alone
    assert run({**base, "MALLOC_TRIM_THRESHOLD_": str(2**30)}) == "False"
