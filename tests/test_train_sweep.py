"""Sweeps on a Dask cluster: one training task per model on GPU workers, same table as sequential."""

from __future__ import annotations

import csv

import pytest
from distributed.diagnostics.plugin import SchedulerPlugin
from test_slurm import profile, slurm  # noqa: F401  (fixtures: a one-node SLURM, slurm-gpu overrides)
from test_train_samples import make_scene

from reefdask.train.config import SamplesConfig, SweepConfig
from reefdask.train.sweep import _COLUMNS, run_sweep

pytestmark = pytest.mark.tf

BASE = {
    "epochs": 1,
    "steps_per_epoch": 2,
    "validation_steps": 2,
    "batch_size": 8,
    "tensorboard": False,
    "reef_decision": "none",
    "architecture": {"name": "flat_net", "blocks": [1, 1]},
}
# two real models and one whose architecture does not exist: it fails inside its task
GRID = {"architecture.name": ["flat_net", "no_such_net", "res_flat_net"], "architecture.filters": [2]}


@pytest.fixture(scope="module")
def samples_yaml(tmp_path_factory):
    """A samples config file (the sweep builds it once) over two tiny scenes."""
    import yaml

    d = tmp_path_factory.mktemp("sweep")
    scenes = [make_scene(d, f"s{i}", size=96, seed=i) for i in range(2)]
    cfg = SamplesConfig(
        store=str(d / "s.zarr"),
        scenes=scenes,
        window_radius=16,
        loss_window_radius=8,
        stride=8,
        n_folds=3,
        validation_fold=0,
        fold_block=32,
        max_samples=60,
        chunk_samples=16,
    )
    path = d / "samples.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    return str(path)


class Restrictions(SchedulerPlugin):
    """Scheduler plugin: the resource restrictions and worker of every ``train-`` task run."""

    name = "train-restrictions"

    def __init__(self) -> None:
        self.seen: dict[str, tuple] = {}

    async def start(self, scheduler) -> None:
        self.scheduler = scheduler

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        if finish == "processing" and str(key).startswith("train-"):
            ts = self.scheduler.tasks[key]
            self.seen[str(key)] = (dict(ts.resource_restrictions or {}), ts.processing_on.address)


def _table(result) -> list[tuple]:
    return [(r["name"], *(r[k] for k in _COLUMNS), bool(r["error"])) for r in result.rows]


@pytest.mark.slow
def test_sweep_on_gpu_workers_trains_in_parallel_and_matches_sequential(samples_yaml, tmp_path):
    from distributed import Client, LocalCluster
    plugin = Restrictions()
    seq = run_sweep(SweepConfig(samples=samples_yaml, outdir=str(tmp_path / "seq"), base=BASE, grid=GRID))
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            resources={"GPU": 1},
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.register_plugin(plugin)
        cfg = SweepConfig(samples=samples_yaml, outdir=str(tmp_path / "par"), base=BASE, grid=GRID)
        par = run_sweep(cfg, client=client)
        seen = client.run_on_scheduler(lambda dask_scheduler: dict(dask_scheduler.plugins[plugin.name].seen))
        again = run_sweep(cfg, client=client)
        seen_again = client.run_on_scheduler(
            lambda dask_scheduler: dict(dask_scheduler.plugins[plugin.name].seen)
        )
    # one task per model, each restricted to one GPU, spread over both workers
    assert len(seen) == 3
    assert all(res == {"GPU": 1} for res, _ in seen.values())
    assert len({worker for _, worker in seen.values()}) == 2
    # failures are recorded and ranked last; the others trained, with the sequential results
    assert _table(par) == _table(seq)
    errors = {r["name"]: r["error"] for r in par.rows}
    failed = errors["nameno_such_net-filters2"]
    assert "ConfigError" in failed and "no_such_net" in failed
    assert [bool(e) for e in errors.values()] == [False, False, True]
    with open(par.table_csv) as f:
        assert [row["error"] != "" for row in csv.DictReader(f)] == [False, False, True]
    # a second run sends only the failed model again
    assert len(seen_again) == 4
    assert [r["skipped"] for r in again.rows[:2]] == [True, True]
    assert _table(again) == _table(par)


@pytest.mark.slurm
@pytest.mark.slow
def test_sweep_on_slurm_gpu_jobs_matches_sequential(samples_yaml, tmp_path, profile):  # noqa: F811
    """SLURM GPU jobs (fake GPUs on the one-node SLURM) train the models: GPU-restricted, same table."""
    from reefdask.cluster import open_cluster
    from reefdask.train.sweep import profile_resources

    grid = {"architecture.filters": [2, 3]}
    seq = run_sweep(SweepConfig(samples=samples_yaml, outdir=str(tmp_path / "seq"), base=BASE, grid=grid))
    plugin = Restrictions()
    cfg = SweepConfig(samples=samples_yaml, outdir=str(tmp_path / "slurm"), base=BASE, grid=grid)
    with open_cluster("slurm-gpu", min_jobs=2, max_jobs=2, **profile) as client:
        client.register_plugin(plugin)
        # the resources come from the profile: submitted before any worker is up, as the CLI does
        on_slurm = run_sweep(cfg, client=client, resources=profile_resources("slurm-gpu"))
        seen = client.run_on_scheduler(lambda dask_scheduler: dict(dask_scheduler.plugins[plugin.name].seen))
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
    assert all(w["resources"] == {"GPU": 1.0} for w in workers)
    assert len(seen) == 2 and all(res == {"GPU": 1} for res, _ in seen.values())
    assert _table(on_slurm) == _table(seq) and not any(r["error"] for r in on_slurm.rows)
