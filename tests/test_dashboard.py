"""The live view: a real LocalCluster's dashboard answers, and its task stream names the stage and chunk.

A small prediction runs on a one-worker-process LocalCluster opened through the ``local`` profile, with the
dashboard on a free loopback port. The dashboard's pages must answer HTTP 200, and the tasks the
scheduler saw must be named after the stage and chunk (``("predict-<scene>", row, col)``: the blocks
of the status graph), so the task stream and the progress bars group them as ``predict``.
"""

from __future__ import annotations

import re
import urllib.request

import pytest

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.status, resp.read()


def _scheduler_prefixes(dask_scheduler) -> list[str]:
    """Run on the scheduler: the name of every task prefix it has seen."""
    return sorted(dask_scheduler.task_prefixes)


@pytest.fixture(scope="module")
def scene_and_model(tmp_path_factory):
    from reefdask.testing.models import scene_array, tiny_fcn, write_tif

    folder = tmp_path_factory.mktemp("dashboard")
    model = str(folder / "fcn.keras")
    tiny_fcn(model, n_conv=2, classes=3, seed=3)
    tif = write_tif(folder / "L15-0525E-1123N.tif", scene_array(96, 64, seed=5))
    return tif, model, folder


def test_dashboard_answers_and_tasks_are_named_by_stage(scene_and_model):
    from distributed import get_task_stream
    from distributed.utils import key_split

    from reefdask.cluster import open_cluster
    from reefdask.cluster.profiles import resolve_profile
    from reefdask.cluster.session import dashboard_link
    from reefdask.predict import predict

    tif, model, folder = scene_and_model
    settings = dict(n_workers=1, threads_per_worker=2, processes=True, dashboard_address="127.0.0.1:0")
    with open_cluster("local", quiet=True, **settings) as client:
        link = dashboard_link(resolve_profile("local", **settings), client)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/status", link), link
        assert not link.endswith(":8787/status")  # a free port, not the default
        with get_task_stream(client) as stream:
            ds = predict(tif, model, str(folder / "out.zarr"), chunk=32, client=client)
        summary = ds.attrs["prediction_summary"]
        assert summary["counts"] == {"done": 6, "skipped": 0, "failed": 0}

        status, body = _get(link)
        assert status == 200 and b"<html" in body.lower()
        base = link.rsplit("/status", 1)[0]
        status, body = _get(f"{base}/info/main/workers.html")
        assert status == 200 and b"tcp://127.0.0.1" in body  # the worker process is listed

        prefixes = client.run_on_scheduler(_scheduler_prefixes)

    # the scheduler saw one predict task per chunk of the status graph, keyed (name, row, column)
    keys = sorted(t["key"] for t in stream.data if isinstance(t["key"], tuple))
    expected = sorted(("predict-L15-0525E-1123N", r, c) for r in range(3) for c in range(2))
    assert keys == expected
    assert {key_split(k) for k in keys} == {"predict"}  # the dashboard's group name is the stage
    assert "predict" in prefixes
    # every prefix of this run is the stage's (no anonymous predict_block-<hash> or blockwise groups)
    assert [p for p in prefixes if "block" in p or "run_chunk" in p or "run-chunk" in p] == []
