"""reefdask on a real one-node SLURM (cluster/local-slurm): GPU jobs, killed jobs, lifetimes, cleanup.

The session uses the SLURM that ``SLURM_CONF`` points at (``.ci/run`` starts one); when none
answers it starts its own with ``cluster/local-slurm/start.sh`` (root and slurm-wlm needed)
and stops it by pid at the end. Without SLURM these tests skip, unless
``REEFDASK_SLURM_REQUIRED`` is set (CI), where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest

from reefdask.cluster import open_cluster

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "cluster" / "local-slurm"


def _node_state() -> str:
    try:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = int(a.getsockname()[1])
        with socket.socket() as b:
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        if port < 65000:
            return port
    raise RuntimeError("no two consecutive free ports")


@pytest.fixture(scope="session")
def slurm() -> Iterator[str]:
    """A SLURM that takes jobs; yields its partition name."""
    if _node_state() in ("idle", "mix", "alloc"):
        yield "debug"
        return
    required = bool(os.environ.get("REEFDASK_SLURM_REQUIRED"))
    if not (shutil.which("slurmctld") and shutil.which("munged") and os.geteuid() == 0):
        reason = (
            "no SLURM reachable (sinfo failed with SLURM_CONF="
            f"{os.environ.get('SLURM_CONF', '<unset>')}) and cannot start one here: run "
            "cluster/local-slurm/install.sh and start.sh as root, then `. <base>/env`"
        )
        if required:
            pytest.fail(f"REEFDASK_SLURM_REQUIRED is set but {reason}")
        pytest.skip(reason)
    base = tempfile.mkdtemp(prefix="reefdask-test-slurm-")
    env = {**os.environ, "REEFDASK_SLURM_PORT": str(_free_port_pair())}
    started = subprocess.run([str(SCRIPTS / "start.sh"), base], env=env, capture_output=True, text=True)
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = f"{base}/slurm.conf"
    try:
        if started.returncode != 0:
            pytest.fail(f"cluster/local-slurm/start.sh failed:\n{started.stdout}\n{started.stderr}")
        yield "debug"
    finally:
        subprocess.run([str(SCRIPTS / "stop.sh"), base, "--wipe"], capture_output=True)
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old


def _jobs(name: str) -> list[str]:
    """Job ids (any state squeue shows) with this job name."""
    out = subprocess.run(["squeue", "-h", "-n", name, "-o", "%i"], capture_output=True, text=True, timeout=30)
    return out.stdout.split()


def _wait_no_jobs(name: str, timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := _jobs(name)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


@pytest.fixture
def profile(slurm: str, tmp_path: Path) -> Iterator[dict]:
    """Overrides that make ``slurm-gpu`` fit the local node; asserts no job is left afterwards."""
    name = f"rdtest-{uuid.uuid4().hex[:6]}"
    yield {
        "partition": slurm,
        "cores": 1,
        "memory": "3GB",
        "walltime": "00:05:00",
        "interface": "lo",
        "dashboard_address": "127.0.0.1:0",
        "job_name": name,
        "local_directory": str(tmp_path / "scratch"),
        "replace_after": "2s",
        "log_dir": tmp_path / "run",
        "quiet": True,
    }
    assert _wait_no_jobs(name) == [], f"open_cluster left SLURM jobs of {name} behind"


def _slow_blocks(seed: int = 0, n: int = 16, pause: float = 0.4) -> da.Array:
    """A deterministic computation of ``n`` blocks that each take ``pause`` s (so runs can be interrupted)."""

    def work(block: np.ndarray) -> np.ndarray:
        time.sleep(pause)
        return np.sin(block) @ np.cos(block.T)

    x = da.random.RandomState(seed).random((n * 64, 64), chunks=(64, 64))
    return x.map_blocks(work, dtype=float)


def _job_of_running_worker(client) -> str:
    cluster = client.cluster
    names = {w["name"] for w in client.scheduler_info(n_workers=-1)["workers"].values()}
    return next(job.job_id for name, job in cluster.workers.items() if name in names and job.job_id)


# ---- the inference engine on SLURM GPU workers equals LocalCluster ---------------------------


@pytest.mark.tf
def test_prediction_on_two_gpu_jobs_is_byte_identical_to_local(profile, tmp_path):
    keras = pytest.importorskip("keras")
    from reefdask.io import open_imagery
    from reefdask.predict import predict
    from reefdask.synthetic import synth_quads

    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((None, None, 3)),
            keras.layers.Conv2D(6, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(4, 3, padding="same", activation="softmax"),
        ]
    )
    model_path = str(tmp_path / "tiny.keras")
    model.save(model_path)
    (quad,) = synth_quads(tmp_path / "scenes", quads=1, size=96, seed=5)
    imagery = open_imagery(quad.image, chunks=32)

    def run(client, store: Path):
        with dask.annotate(resources={"GPU": 1}):  # model tasks only on GPU workers
            ds = predict(imagery, model_path, str(store), chunk=32, client=client)
        assert ds.attrs["prediction_summary"]["counts"]["failed"] == 0
        return {v: ds[v].values for v in ds.data_vars}

    with open_cluster(
        "local",
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        resources={"GPU": 1},
        dashboard_address="127.0.0.1:0",
        quiet=True,
    ) as client:
        local = run(client, tmp_path / "local.zarr")

    with open_cluster("slurm-gpu", min_jobs=2, max_jobs=2, **profile) as client:
        client.wait_for_workers(2, timeout=120)
        devices = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
        assert sorted(devices.values()) == ["0", "1"]  # one (fake) GPU per worker, from --gres=gpu:1
        info = client.scheduler_info(n_workers=-1)["workers"].values()
        assert all(w["resources"] == {"GPU": 1.0} for w in info)
        on_slurm = run(client, tmp_path / "slurm.zarr")
        jobs = _jobs(profile["job_name"])
        assert len(jobs) == 2
    assert local.keys() == on_slurm.keys() and local
    for var in local:
        assert local[var].dtype == on_slurm[var].dtype
        assert local[var].tobytes() == on_slurm[var].tobytes(), var
    log = (tmp_path / "run" / "cluster.log").read_text()
    assert "reefdask cluster 'slurm-gpu' (slurm): scheduler tcp://127.0.0.1:" in log
    assert list((tmp_path / "run" / "slurm").glob(f"{profile['job_name']}-*.err"))


# ---- jobs that end mid-run -------------------------------------------------------------------


def test_scancel_of_a_worker_job_mid_run_still_completes(profile):
    expected = _slow_blocks(pause=0).compute(scheduler="sync")
    with open_cluster("slurm-gpu", adaptive=False, max_jobs=2, **profile) as client:
        client.wait_for_workers(2, timeout=120)
        before = set(_jobs(profile["job_name"]))
        future = client.compute(_slow_blocks())
        time.sleep(1.5)  # some blocks done, most still to do
        assert not future.done()
        victim = _job_of_running_worker(client)
        subprocess.run(["scancel", victim], check=True)
        result = future.result(timeout=150)
        # the fixed-size cluster replaced the killed job (JobKeeper)
        deadline = time.monotonic() + 60
        while len(client.scheduler_info(n_workers=-1)["workers"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        after = set(_jobs(profile["job_name"]))
    assert victim in before and victim not in after
    assert len(after - before) >= 1, "no replacement job was submitted"
    np.testing.assert_array_equal(result, expected)
    assert result.tobytes() == expected.tobytes()


def test_worker_lifetime_shorter_than_the_run_completes(profile):
    """Adaptive cluster whose workers retire after 18-22 s while the run needs longer: new jobs come.

    Results are collected as each block finishes (as reefdask's prediction does, through its
    store and ledger): when every worker retires at once, results only kept on workers would be
    lost and recomputed by the next generation, forever.
    """
    from distributed import as_completed

    n = 48  # >= 24 s of sleeping on two one-thread workers: longer than any worker's lifetime (<= 22 s)
    expected = _slow_blocks(seed=1, n=n, pause=0).compute(scheduler="sync")
    profile = {**profile, "walltime": "00:03:00", "lifetime": "20s", "lifetime_stagger": "2s"}
    seen: set[str] = set()
    done: dict[int, np.ndarray] = {}
    with open_cluster("slurm-gpu", min_jobs=2, max_jobs=2, **profile) as client:
        client.wait_for_workers(2, timeout=120)
        blocks = _slow_blocks(seed=1, n=n, pause=1.0).to_delayed().ravel()
        futures = client.compute(list(blocks))
        index = {f.key: i for i, f in enumerate(futures)}
        last = 0.0
        for future in as_completed(futures):
            done[index[future.key]] = future.result()
            future.release()
            if time.monotonic() - last > 1.0:
                seen.update(_jobs(profile["job_name"]))
                last = time.monotonic()
        seen.update(_jobs(profile["job_name"]))
    assert len(seen) > 2, f"expected replacement jobs after the workers' lifetime, saw only {sorted(seen)}"
    result = np.concatenate([done[i] for i in range(n)])
    assert result.tobytes() == expected.tobytes()


def test_tls_between_scheduler_and_slurm_workers(profile, tmp_path):
    with open_cluster("slurm-gpu", tls=True, min_jobs=1, max_jobs=1, **profile) as client:
        client.wait_for_workers(1, timeout=120)
        assert client.scheduler.address.startswith("tls://127.0.0.1:")
        assert all(a.startswith("tls://") for a in client.scheduler_info()["workers"])
        assert client.submit(lambda v: v + 1, 41).result() == 42
    # the workers' private key and certificates lived in the shared temp directory only while the cluster ran
    assert not list((tmp_path / "run" / "slurm").glob(".dask-jobqueue.worker.*"))


def test_open_cluster_cancels_its_jobs_when_the_run_fails(profile):
    name = profile["job_name"]
    with pytest.raises(RuntimeError, match="boom"):
        with open_cluster("slurm-cpu", processes=1, min_jobs=1, max_jobs=1, **profile) as client:
            client.wait_for_workers(1, timeout=120)
            assert len(_jobs(name)) == 1
            raise RuntimeError("boom")
    assert _wait_no_jobs(name) == []


def test_jobs_that_die_before_their_worker_starts_are_reported_and_capped(profile, tmp_path):
    """A broken prologue: each job ends at once. Three are tried, logged, then submission stops."""
    name = profile["job_name"]
    with open_cluster("slurm-gpu", adaptive=False, max_jobs=1, prologue=["exit 3"], **profile) as client:
        log = tmp_path / "run" / "cluster.log"
        deadline = time.monotonic() + 90
        while "no more jobs are submitted" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the keeper never gave up on jobs that cannot start"
            time.sleep(0.5)
        time.sleep(3)  # nothing more is submitted
        assert _jobs(name) == []
        assert len(client.scheduler_info()["workers"]) == 0
    text = log.read_text()
    assert text.count("ended before its dask worker connected") == 3
    err_files = re.findall(r"see (\S+\.err)", text)
    assert len(err_files) == 3 and all(f.startswith(f"{tmp_path}/run/slurm/{name}-") for f in err_files)
    assert all(Path(f).exists() for f in err_files)
