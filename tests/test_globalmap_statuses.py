"""The global run in the work layer: quads claimed once across jobs, fenced records, old runs still read.

Every backend the run store can be: local disk, ``memory://`` and a bucket on
fake-gcs-server (``gcs`` marker). Real tiny Keras models, real GeoTIFF quads.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import numpy as np
import pytest
from globalmap_support import gcs_options, make_model, make_quads, new_bucket

from reefdask.config import load_config
from reefdask.core.grid import Quad
from reefdask.globalmap.config import GlobalConfig
from reefdask.globalmap.mapstore import NODATA, MapStore
from reefdask.globalmap.plan import open_run
from reefdask.globalmap.progress import progress
from reefdask.globalmap.quad import QuadResult, process_quad
from reefdask.globalmap.statuses import LEGACY, QUADS, quad_work, read_statuses, record_result
from reefdask.io.store import open_store
from reefdask.work import ClaimLostError

pytestmark = pytest.mark.tf

N = 9


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("gw")
    quads = [s.quad.id for s in make_quads(root, n=N, size=64)]
    return {"root": root, "quads": sorted(quads), "model": make_model(root / "m.keras")}


@pytest.fixture(params=["local", "memory", pytest.param("gcs", marks=pytest.mark.gcs)])
def run_store(request, tmp_path):
    """``(run URL, storage_options)`` of a fresh run store on each backend."""
    if request.param == "local":
        return str(tmp_path / "run"), {}
    if request.param == "memory":
        return f"memory://gw-{uuid.uuid4().hex[:10]}/run", {}
    endpoint = request.getfixturevalue("fake_gcs")
    return f"{new_bucket(endpoint)}/run", gcs_options(endpoint)


def _cfg(world, run, opts, **kw):
    data = {"run": run, "models": [world["model"]], "inventory": str(world["root"] / "imagery"),
            "batch": 2, "lease_seconds": 30, "storage_options": opts, **kw}  # fmt: skip
    return load_config(data, GlobalConfig)


def _records(store):
    work = quad_work(store)
    return {q: work.records.read(e.names[0]) for q, e in work.records.scan().items()}


def test_two_concurrent_jobs_never_compute_one_quad_twice(world, run_store):
    """Two jobs on one run at once: each quad computed by one job, the one its record names."""
    from reefdask.globalmap.run import run_job

    run, opts = run_store
    reports, errors = {}, []
    barrier = threading.Barrier(2)

    def job(name):
        try:
            barrier.wait()
            reports[name] = run_job(_cfg(world, run, opts), job_id=name, log=lambda s: None)
        except Exception as err:  # surfaced below, with the other job's outcome
            errors.append(err)

    threads = [threading.Thread(target=job, args=(n,)) for n in ("job-a", "job-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    a, b = reports["job-a"].computed, reports["job-b"].computed
    assert not set(a) & set(b) and sorted(a + b) == world["quads"]
    store = open_store(run, opts)
    records = _records(store)
    assert sorted(records) == world["quads"] and {r.status for r in records.values()} == {"done"}
    by_record = {q: r.owner for q, r in records.items()}
    assert by_record == {q: name for name, rep in reports.items() for q in rep.computed}
    assert not store.list(f"{QUADS}/_claims/")  # finished quads leave no claim behind
    assert progress(store)["counts"]["done"] == N


def test_a_job_whose_claim_was_taken_over_records_nothing(world, run_store):
    """A stalled job's claim expires and another job takes the quad: the stalled one writes nothing."""
    run, opts = run_store
    plan = open_run(_cfg(world, run, opts))
    q = world["quads"][0]
    slow = quad_work(plan.store, owner="slow", ttl=0.2)
    claim = slow.claim(q)
    assert not isinstance(claim, str)
    time.sleep(0.3)  # the slow job stalls past its claim's expiry, renewals included
    fast = quad_work(plan.store, owner="fast")
    taken = fast.claim(q)
    assert not isinstance(taken, str) and taken.owner == "fast"
    # the fence, right before the products are written, refuses: no chunk appears
    with pytest.raises(ClaimLostError):
        process_quad(plan.tasks[q], plan.spec, claim.check)
    heat = MapStore(plan.spec.map_store).read("heat", Quad.parse(q))
    assert (heat == NODATA).all()
    # the record through the lost claim refuses too: nothing is recorded
    with pytest.raises(ClaimLostError):
        record_result(slow, claim, QuadResult(q, "done", computed=True))
    assert read_statuses(plan.store) == {}
    # the job that holds the claim maps and records the quad
    res = process_quad(plan.tasks[q], plan.spec, taken.check)
    assert record_result(fast, taken, res) == "done"
    fast.finish(taken, "done")
    assert _records(plan.store)[q].owner == "fast"
    assert (MapStore(plan.spec.map_store).read("heat", Quad.parse(q)) != NODATA).any()


def test_run_job_lists_a_quad_whose_claim_was_taken_over_as_lost(world, run_store, monkeypatch):
    """In the job loop: the claim is taken over mid-quad; the job records nothing for it and goes on."""
    import reefdask.globalmap.run as run_mod

    run, opts = run_store
    victim = world["quads"][0]
    real = run_mod.process_quad

    def stalled(task, spec, fence=None):
        if task.quad == victim:  # the job stalls here past its claim's expiry; another job takes over
            store = open_store(run, opts)
            key = f"{QUADS}/_claims/{victim}"
            current = store.get(key)
            body = {**json.loads(current.data), "expires": 0.0}
            assert store.update(key, json.dumps(body).encode(), generation=current.generation)
            assert quad_work(store, owner="thief").claims.acquire(victim) is not None
        return real(task, spec, fence)

    monkeypatch.setattr(run_mod, "process_quad", stalled)
    report = run_mod.run_job(_cfg(world, run, opts, wait=False), job_id="slow", log=lambda s: None)
    assert report.lost == [victim] and victim not in report.statuses and victim not in report.computed
    assert sorted(report.statuses) == [q for q in world["quads"] if q != victim]
    store = open_store(run, opts)
    assert victim not in read_statuses(store)
    assert (MapStore(store.child("map.zarr")).read("heat", Quad.parse(victim)) == NODATA).all()
    assert quad_work(store).claims.holder(victim)["owner"] == "thief"


def test_progress_reads_a_run_of_the_old_layout(world, tmp_path):
    """A run written before the work layer (``state/status/<quad>.<status>``) still reads, and is finished."""
    from reefdask.globalmap.run import run_job

    run = tmp_path / "run"
    run_job(_cfg(world, str(run), {}), log=lambda s: None)
    store = open_store(str(run))
    bad = world["quads"][1]
    for q in world["quads"]:  # rewrite the records as the old code wrote statuses
        status = "corrupt" if q == bad else "done"
        body = {"quad": q, "status": status, "job": "old-job", "time": 1.0, "seconds": 2.0}
        if status == "corrupt":
            body["error"] = "RasterioIOError: Read failed"
        store.publish(f"{LEGACY}/{q}.{status}", json.dumps(body).encode())
    store.remove(QUADS, recursive=True)
    p = progress(str(run))
    assert p["finished"] == p["total"] == N and p["counts"]["done"] == N - 1 and p["counts"]["corrupt"] == 1
    assert p["failures"][bad] == {"status": "corrupt", "error": "RasterioIOError: Read failed",
                                  "job": "old-job", "attempts": 1}  # fmt: skip
    assert run_job(_cfg(world, str(run), {}), log=lambda s: None).nothing_to_do
    # a quad recorded by the new layout takes precedence over its old status
    work = quad_work(store, owner="new")
    work.records.done(bad)
    assert read_statuses(store)[bad] == "done"


def test_a_transient_failure_is_retried_by_the_next_job(world, tmp_path, monkeypatch):
    """A quad whose task was lost (``failed.transient``) is redone by a rerun; corrupt ones are not."""
    import reefdask.globalmap.run as run_mod
    from reefdask.globalmap.run import run_job

    run = str(tmp_path / "run")
    victim = world["quads"][2]
    real = run_mod.process_quad

    def lost_task(task, spec, fence=None):
        if task.quad == victim:
            return QuadResult(victim, "transient", "task failed on the cluster: KilledWorker")
        return real(task, spec, fence)

    monkeypatch.setattr(run_mod, "process_quad", lost_task)
    first = run_job(_cfg(world, run, {}), log=lambda s: None)
    assert first.statuses[victim] == "transient" and read_statuses(open_store(run))[victim] == "transient"
    assert progress(run)["failures"][victim]["status"] == "transient"
    monkeypatch.setattr(run_mod, "process_quad", real)
    assert run_job(_cfg(world, run, {}, retry=[]), log=lambda s: None).nothing_to_do
    again = run_job(_cfg(world, run, {}), log=lambda s: None)
    assert again.computed == [victim] and read_statuses(open_store(run))[victim] == "done"
    (name,) = [n for n in open_store(run).list(f"{QUADS}/") if n.startswith(f"{QUADS}/{victim}.")]
    assert name.endswith(".done.json")  # the failure record was replaced


def test_products_of_both_backends_agree(world, tmp_path):
    """memory:// and local disk hold the same map for the same run."""
    from reefdask.globalmap.run import run_job

    mem = f"memory://gw-{uuid.uuid4().hex[:10]}/run"
    run_job(_cfg(world, mem, {}), log=lambda s: None)
    run_job(_cfg(world, str(tmp_path / "run"), {}), log=lambda s: None)
    a, b = MapStore(open_store(mem).child("map.zarr")), MapStore(str(tmp_path / "run" / "map.zarr"))
    for q in world["quads"]:
        np.testing.assert_array_equal(a.read("heat", Quad.parse(q)), b.read("heat", Quad.parse(q)))
