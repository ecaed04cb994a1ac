"""Cluster profiles, their precedence, and the SLURM job scripts they render (no SLURM needed)."""

from __future__ import annotations

import filecmp
import re
import urllib.request
from pathlib import Path

import dask
import dask.array as da
import dask.config
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from reefdask.cli import app
from reefdask.cluster import job_script, list_profiles, open_cluster, resolve_profile
from reefdask.cluster.profiles import SHIPPED_PROFILES, shipped_yaml
from reefdask.cluster.session import dashboard_link
from reefdask.cluster.slurm import lifetime_plan, parse_walltime
from reefdask.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_config(monkeypatch: pytest.MonkeyPatch):
    """Restore dask.config (and the environment) after a test that changes them."""
    yield monkeypatch
    monkeypatch.undo()
    dask.config.refresh()


def _script(tmp_path: Path, profile: str = "slurm-gpu", **kw) -> str:
    kw.setdefault("log_directory", str(tmp_path / "logs"))
    return job_script(profile, **kw)


def _header(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith("#SBATCH")]


def _worker_line(script: str) -> str:
    return next(line for line in script.splitlines() if "distributed.cli.dask_worker" in line)


# ---- profiles ------------------------------------------------------------------------------


def test_repo_copies_equal_shipped_profiles():
    for name in SHIPPED_PROFILES:
        assert filecmp.cmp(
            REPO / "cluster" / f"{name}.yaml", REPO / "reefdask/data/cluster" / f"{name}.yaml", shallow=False
        ), f"cluster/{name}.yaml differs from reefdask/data/cluster/{name}.yaml"
        data = yaml.safe_load(shipped_yaml(name))
        assert list(data["reefdask"]["cluster"]["profiles"]) == [name]


def test_shipped_profiles_resolve():
    assert set(SHIPPED_PROFILES) <= set(list_profiles())
    local = resolve_profile("local")
    assert local.kind == "local" and local.host == "127.0.0.1"
    assert local.dashboard_address is not None and local.dashboard_address.startswith("127.0.0.1:")
    gpu = resolve_profile("slurm-gpu")
    assert (gpu.kind, gpu.gpus, gpu.processes, gpu.adaptive) == ("slurm", 1, 1, True)
    assert gpu.worker_resources() == {"GPU": 1.0}
    assert resolve_profile("slurm-cpu").worker_resources() == {}


def test_precedence_keyword_over_config_over_defaults(clean_config):
    assert resolve_profile("slurm-gpu").max_jobs == 8  # shipped default
    with dask.config.set(
        {
            "reefdask.cluster.profiles.slurm-gpu.max-jobs": 5,
            "reefdask.cluster.profiles.slurm-gpu.partition": "site",
        }
    ):
        p = resolve_profile("slurm-gpu")
        assert (p.max_jobs, p.partition) == (5, "site")
        p = resolve_profile("slurm-gpu", max_jobs=3)
        assert (p.max_jobs, p.partition) == (3, "site")
        assert resolve_profile("slurm-gpu", **{"max-jobs": 2}).max_jobs == 2


def test_environment_variable_overrides(clean_config):
    clean_config.setenv("DASK_REEFDASK__CLUSTER__PROFILES__SLURM_GPU__MAX_JOBS", "3")
    clean_config.setenv("DASK_REEFDASK__CLUSTER__PROFILES__SLURM_GPU__ACCOUNT", "reefteam")
    dask.config.refresh()
    p = resolve_profile("slurm-gpu")
    assert (p.max_jobs, p.account) == (3, "reefteam")
    assert p.walltime == "04:00:00"  # untouched fields keep the shipped defaults
    assert "#SBATCH -A reefteam" in job_script("slurm-gpu", log_directory="/nonexistent-rd/logs")


def test_site_yaml_file_overrides_and_extends(clean_config, tmp_path):
    (tmp_path / "site.yaml").write_text(
        "reefdask:\n  cluster:\n    profiles:\n"
        "      slurm-gpu: {partition: a100, prologue: ['module load cuda/12']}\n"
        "      big-gpu: {extends: slurm-gpu, gpus: 2, max-jobs: 40}\n"
    )
    dask.config.refresh(paths=[*dask.config.paths, str(tmp_path)])
    assert "big-gpu" in list_profiles()
    big = resolve_profile("big-gpu")
    assert (big.name, big.partition, big.gpus, big.max_jobs, big.walltime) == (
        "big-gpu",
        "a100",
        2,
        40,
        "04:00:00",
    )
    script = _script(tmp_path, "big-gpu")
    assert "#SBATCH --gres=gpu:2" in script and "#SBATCH -p a100" in script
    assert "module load cuda/12" in script and "--resources GPU=2" in script


def test_unknown_profile_and_key_name_the_fix():
    with pytest.raises(ConfigError, match=r"unknown cluster profile 'slurm-gp'; did you mean 'slurm-gpu'"):
        resolve_profile("slurm-gp")
    with pytest.raises(ConfigError, match=r"walltme: unknown key; did you mean 'walltime'"):
        resolve_profile("slurm-gpu", walltme="01:00:00")
    with pytest.raises(ConfigError, match=r"max_jobs"):
        resolve_profile("slurm-gpu", max_jobs="many")
    with pytest.raises(ConfigError, match="kind: must be 'local' or 'slurm'"):
        resolve_profile("slurm-gpu", kind="pbs")


def test_extends_loop_is_refused(clean_config):
    with dask.config.set(
        {"reefdask.cluster.profiles.a": {"extends": "b"}, "reefdask.cluster.profiles.b": {"extends": "a"}}
    ):
        with pytest.raises(ConfigError, match="loop"):
            resolve_profile("a")


# ---- job scripts -----------------------------------------------------------------------------


def test_gpu_script_lines(tmp_path):
    script = _script(
        tmp_path,
        partition="gpu-a100",
        account="reef",
        qos="high",
        memory="16GB",
        cores=4,
        walltime="02:00:00",
        prologue=["module load cuda/12", "conda activate reefdask"],
        local_directory="$SCRATCH_LOCAL",
    )
    header = _header(script)
    for line in [
        "#SBATCH -p gpu-a100",
        "#SBATCH -A reef",
        "#SBATCH --qos=high",
        "#SBATCH --gres=gpu:1",
        "#SBATCH -t 02:00:00",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=15G",
        "#SBATCH -n 1",
        "#SBATCH -J reefdask-gpu",
    ]:
        assert line in header, line
    assert f"#SBATCH -o {tmp_path}/logs/reefdask-gpu-%J.out" in header
    lines = script.splitlines()
    worker = _worker_line(script)
    # prologue runs before the worker, in order
    assert lines.index("module load cuda/12") < lines.index("conda activate reefdask") < lines.index(worker)
    assert "--resources GPU=1" in worker and "--local-directory $SCRATCH_LOCAL" in worker
    assert "--nworkers" not in worker  # one worker process per job: it owns the GPU
    assert "<scheduler-address>" in worker
    assert not (tmp_path / "logs").exists()  # rendering made nothing


def test_lifetime_below_walltime_in_script(tmp_path):
    worker = _worker_line(_script(tmp_path, walltime="01:00:00"))
    lifetime = int(re.search(r"--lifetime (\d+)m", worker).group(1))
    stagger = int(re.search(r"--lifetime-stagger (\d+)m", worker).group(1))
    assert (lifetime, stagger) == (51, 3)
    assert lifetime + stagger < 60
    worker = _worker_line(_script(tmp_path, walltime="00:30:00", lifetime="20m", lifetime_stagger="90s"))
    assert "--lifetime 20m --lifetime-stagger 90s" in worker


def test_lifetime_past_walltime_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="before the walltime 01:00:00"):
        _script(tmp_path, walltime="01:00:00", lifetime="58m", lifetime_stagger="5m")
    with pytest.raises(ConfigError, match="not a SLURM time limit"):
        _script(tmp_path, walltime="1 hour")
    with pytest.raises(ConfigError, match="not a duration"):
        _script(tmp_path, lifetime="soon")


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=60, max_value=7 * 86400))
def test_default_lifetime_always_drains_before_walltime(seconds):
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    walltime = f"{d}-{h:02d}:{m:02d}:{s:02d}"
    assert parse_walltime(walltime) == seconds
    lifetime, stagger = lifetime_plan(resolve_profile("slurm-gpu", walltime=walltime))
    assert 0 < lifetime and lifetime + stagger < seconds
    assert seconds - (lifetime + stagger) >= min(0.1 * seconds, 600) - 1  # the drain margin


def test_gpus_per_task_directive_and_cpu_profile(tmp_path):
    header = _header(_script(tmp_path, gpu_directive="gpus-per-task", gpus=2))
    assert "#SBATCH --gpus-per-task=2" in header and not any("--gres" in h for h in header)
    cpu = _script(tmp_path, "slurm-cpu", resources={"IO": 1})
    assert not any("--gres" in h or "--gpus" in h for h in _header(cpu))
    worker = _worker_line(cpu)
    assert "--nworkers 2" in worker and "--resources IO=1" in worker and "GPU" not in worker


def test_gpu_with_several_processes_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="processes: 1"):
        _script(tmp_path, processes=2)


def test_tls_script_uses_tls_everywhere(tmp_path):
    worker = _worker_line(_script(tmp_path, tls=True, shared_temp_directory="/shared/tmp"))
    assert "tls://<scheduler-address>" in worker and "--protocol tls://" in worker
    assert "--tls-ca-file /shared/tmp/" in worker and "--tls-key /shared/tmp/" in worker


def test_local_profile_has_no_script():
    with pytest.raises(ConfigError, match="only SLURM profiles have a batch script"):
        job_script("local")


# ---- command line --------------------------------------------------------------------------


def test_cli_script_prints_exact_script(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "cluster",
            "script",
            "slurm-gpu",
            "--set",
            "walltime=00:20:00",
            "--set",
            "max_jobs=3",
            "--set",
            f"log_directory={tmp_path}/l",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        result.output.strip() == _script(tmp_path, walltime="00:20:00", log_directory=f"{tmp_path}/l").strip()
    )
    assert "#SBATCH -t 00:20:00" in result.output


def test_cli_info_and_bad_set():
    runner = CliRunner()
    result = runner.invoke(app, ["cluster", "info", "slurm-gpu", "--set", "gpus=2"])
    assert result.exit_code == 0, result.output
    info = yaml.safe_load(result.output)
    assert info["gpus"] == 2 and info["kind"] == "slurm" and "worker-lifetime" in info
    result = runner.invoke(app, ["cluster", "script", "slurm-gpu", "--set", "walltime"])
    assert result.exit_code != 0 and "key=value" in str(result.output) + str(result.exception)


# ---- the local cluster ----------------------------------------------------------------------


def test_open_local_cluster_computes_and_logs(tmp_path, capsys):
    x = da.random.RandomState(0).random((200, 200), chunks=50)
    expected = float((x @ x.T).sum().compute(scheduler="sync"))
    with open_cluster(
        "local",
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        resources={"GPU": 1},
        dashboard_address="127.0.0.1:0",
        log_dir=tmp_path / "run",
    ) as client:
        assert float(client.compute((x @ x.T).sum()).result()) == expected
        with dask.annotate(resources={"GPU": 1}):
            y = x + 1
        assert float(y.sum().compute()) == pytest.approx(float(x.sum().compute()) + 200 * 200)
        dashboard = dashboard_link(resolve_profile("local", dashboard_address="127.0.0.1:0"), client)
        port = int(dashboard.split(":")[2].split("/")[0])
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).read() == b"ok"
    assert client.status == "closed"
    assert dashboard.startswith("http://127.0.0.1:")
    log = (tmp_path / "run" / "cluster.log").read_text()
    assert "reefdask cluster 'local' (local)" in log and dashboard in log
    assert dashboard in capsys.readouterr().err


@pytest.mark.slow
def test_open_local_cluster_with_tls(tmp_path):
    with open_cluster(
        "local",
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        tls=True,
        dashboard_address="127.0.0.1:0",
        quiet=True,
    ) as client:
        assert client.scheduler.address.startswith("tls://127.0.0.1:")
        workers = client.scheduler_info()["workers"]
        assert workers and all(a.startswith("tls://") for a in workers)
        assert client.submit(lambda v: v * 2, 21).result() == 42
