"""A global run whose store (statuses, leases, sparse Zarr) is a bucket on fake-gcs-server."""

import threading

import numpy as np
import pytest
from globalmap_support import gcs_options, make_model, make_quads, new_bucket

from reefdask.config import load_config
from reefdask.core.grid import Quad
from reefdask.globalmap.config import GlobalConfig
from reefdask.globalmap.mapstore import MapStore
from reefdask.globalmap.progress import progress
from reefdask.globalmap.run import run_job

pytestmark = [pytest.mark.tf, pytest.mark.gcs]


@pytest.mark.slow
def test_two_jobs_on_a_bucket_share_the_work(fake_gcs, tmp_path):
    make_quads(tmp_path, n=9, size=64)
    model = make_model(tmp_path / "m.keras")
    opts = gcs_options(fake_gcs)
    bucket = new_bucket(fake_gcs)

    def cfg(run):
        data = {"run": run, "models": [model], "inventory": str(tmp_path / "imagery"), "batch": 2,
                "lease_seconds": 10, "storage_options": opts}  # fmt: skip
        return load_config(data, GlobalConfig)

    run = f"{bucket}/runs/two"
    reports = {}

    def job(name):
        reports[name] = run_job(cfg(run), job_id=name, log=lambda s: None)

    threads = [threading.Thread(target=job, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    computed = reports["a"].computed + reports["b"].computed
    assert sorted(computed) == sorted(set(computed)) and len(computed) == 9
    p = progress(run, opts)
    assert p["counts"]["done"] == 9 and p["remaining"] == 0 and p["leases"]["live"] == 0
    # the bucket's map equals a single-job map on local disk
    local = tmp_path / "local"
    run_job(cfg(str(local)), log=lambda s: None)
    remote, here = MapStore(f"{run}/map.zarr", opts), MapStore(str(local / "map.zarr"))
    for q in p["statuses"]:
        for name in ("heat", "coarse", "classes"):
            np.testing.assert_array_equal(remote.read(name, Quad.parse(q)), here.read(name, Quad.parse(q)))
    assert run_job(cfg(run), log=lambda s: None).nothing_to_do
