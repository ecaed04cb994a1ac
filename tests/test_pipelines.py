"""``pipelines/``: every example config validates, every entrypoint answers ``--help``, a bad
config is refused before any work with a message naming the key, relative paths resolve
against the config's folder (or ``--workdir``), and the full chain runs end to end on its
fast settings, then reruns doing nothing twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines import MODULES, STAGES, config_model
from pipelines._run import main
from reefdask.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "pipelines" / "configs"


def _python_m(module: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", f"pipelines.{module}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)


def _entry(stage: str):
    import importlib

    return importlib.import_module(f"pipelines.{MODULES[stage]}")


def _write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_every_example_config_has_a_stage():
    stems = {p.stem for p in CONFIGS.glob("*.yaml")}
    assert stems <= set(STAGES), stems - set(STAGES)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_example_config_validates(stage):
    path = CONFIGS / f"{stage}.yaml"
    assert path.exists(), f"stage {stage} has no example config"
    load_config(str(path), config_model(stage))


def test_every_stage_has_an_entrypoint_module():
    assert {p.stem for p in (ROOT / "pipelines").glob("*.py")} >= set(MODULES.values()) | {"_run"}
    assert MODULES["global"] == "global_map"


def test_every_entrypoint_answers_help():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = {
        m: subprocess.Popen(
            [sys.executable, "-m", f"pipelines.{m}", "--help"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for m in sorted(set(MODULES.values()))
    }
    for m, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (m, err)
        assert f"python -m pipelines.{m}" in out and "CONFIG" in out and "--workdir" in out, out


def test_full_help_names_the_fast_option():
    proc = _python_m("full", "--help")
    assert proc.returncode == 0 and "--fast" in proc.stdout and "fast_settings" in proc.stdout


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_an_unknown_key_is_refused_before_any_work(stage, tmp_path, capsys):
    data = yaml.safe_load((CONFIGS / f"{stage}.yaml").read_text())
    data["not_a_key"] = 1
    bad = _write(tmp_path / f"{stage}.yaml", data)
    work = tmp_path / "work"
    code = main(stage, _entry(stage).run, None, [str(bad), "--workdir", str(work)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and str(bad) in err and "not_a_key: unknown key" in err
    assert "Traceback" not in err and not work.exists()


def test_a_wrong_value_is_refused_naming_the_key(tmp_path, capsys):
    data = yaml.safe_load((CONFIGS / "train.yaml").read_text())
    data["epochs"] = "many"
    data["architecture"]["filtres"] = 8
    bad = _write(tmp_path / "train.yaml", data)
    assert main("train", _entry("train").run, None, [str(bad)]) == 2
    err = capsys.readouterr().err
    assert "epochs:" in err and "'many'" in err
    assert "architecture.filtres: unknown key; did you mean 'filters'?" in err


def test_fast_settings_that_name_a_missing_section_are_refused(tmp_path, capsys):
    import pipelines.full as full

    cfg = _write(tmp_path / "full.yaml", {"synth": {"outdir": "b"}, "fast_settings": {"train.epochs": 1}})
    assert full.cli([str(cfg), "--workdir", str(tmp_path / "w")]) == 0  # not fast: not applied
    code = full.cli([str(cfg), "--fast"])
    err = capsys.readouterr().err
    assert code == 2 and "with --fast" in err and "'train.epochs'" in err and "no section 'train'" in err


def test_relative_paths_resolve_against_the_config_folder_or_workdir(tmp_path, monkeypatch, capsys):
    import pipelines.synth as synth

    monkeypatch.chdir(tmp_path)
    cfg = _write(tmp_path / "conf" / "synth.yaml", {"outdir": "bucket", "quads": 1, "size": 32})
    assert main("synth", synth.run, None, [str(cfg)]) == 0
    assert len(list((tmp_path / "conf" / "bucket" / "imagery").rglob("L15-*.tif"))) == 1
    assert main("synth", synth.run, None, [str(cfg), "--workdir", "elsewhere"]) == 0
    assert len(list((tmp_path / "elsewhere" / "bucket" / "labels").rglob("L15-*.tif"))) == 1
    assert Path.cwd() == tmp_path  # the process comes back to where it was
    assert main("synth", synth.run, None, [str(cfg)]) == 0
    assert "(reused)" in capsys.readouterr().out


def test_a_failed_item_exits_1(tmp_path, capsys):
    import pipelines.ingest as ingest
    from reefdask.synthetic import write_corrupt_quad

    write_corrupt_quad(tmp_path / "in" / "L15-0525E-1123N.tif", size=64)
    cfg = _write(tmp_path / "ingest.yaml", {"sources": ["in/*.tif"], "store": "cube.zarr", "chunk": 64})
    assert main("ingest", ingest.run, None, [str(cfg)]) == 1
    captured = capsys.readouterr()
    assert "1 failed" in captured.out and "finished with failures" in captured.err


@pytest.fixture(scope="module")
def full_chain(tmp_path_factory):
    work = tmp_path_factory.mktemp("full")
    first = _python_m("full", str(CONFIGS / "full.yaml"), "--workdir", str(work), "--fast")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    again = _python_m("full", str(CONFIGS / "full.yaml"), "--workdir", str(work), "--fast")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    return work / "full-output", first.stdout, again.stdout


@pytest.mark.slow
@pytest.mark.tf
def test_full_chain_runs_every_stage_in_order(full_chain):
    _, stdout, _ = full_chain
    stages = ["synth", "acquire", "clean", "ingest", "samples", "train", "predict", "calval", "global"]
    done = [line.split("]")[0][1:] for line in stdout.splitlines() if "] done in" in line]
    assert done == stages
    assert "full (fast): 9 stages" in stdout


@pytest.mark.slow
@pytest.mark.tf
def test_full_chain_outputs(full_chain):
    import zarr

    from reefdask.globalmap.progress import progress
    from reefdask.model.card import ModelCard
    from reefdask.predict import prediction_status

    out, _, _ = full_chain
    assert len(list((out / "clean" / "imagery").glob("L15-*.tif"))) == 4
    assert len(list((out / "clean" / "labels").glob("L15-*.tif"))) == 4
    groups = zarr.open_group(str(out / "cube.zarr"), mode="r").group_keys()
    assert len([g for g in groups if not g.startswith("_")]) == 4  # beside the _ingest records group
    card = ModelCard.load(str(out / "model" / "unet.card.json"))
    assert (out / "model" / "unet.keras").stat().st_size > 0 and card.bands == [1, 2, 3]
    st = prediction_status(str(out / "predictions" / "L15-0526E-1122N.zarr"))
    assert st["total"] >= 1 and st["counts"]["done"] == st["total"] and st["counts"]["pending"] == 0
    report = json.loads((out / "calval" / "unet" / "report.json").read_text())
    assert 0 <= report["means"]["weighted_f1"] <= 1
    prog = progress(str(out / "global-run"))
    assert sum(prog["counts"].values()) == 4 and prog["counts"]["corrupt"] == 0


@pytest.mark.slow
@pytest.mark.tf
def test_full_chain_rerun_skips_finished_work(full_chain):
    _, _, again = full_chain
    for said in (
        "quads already in",
        "copied 0",
        "imagery: skipped 4",
        "0 written",
        "already built with this configuration",
        "(already finished)",
        "(0 computed by this run)",
        "every quad already has a status; nothing to do",
    ):
        assert said in again, said
