"""``reefdask demo --fast``, run for real (twice) in a temporary folder: its outputs are valid
and a second run reuses the finished work.

The demo runs once per module as the command users type (a subprocess, so TensorFlow stays
out of the test process), then once more on the same folder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PNG = b"\x89PNG\r\n\x1a\n"


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, "-m", "reefdask.cli", "demo", "--fast", "--out", str(out), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def _demo(out: Path) -> str:
    proc = _run(out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_plan_puts_the_corrupt_quad_next_to_the_block_and_needs_four_quads(tmp_path):
    from reefdask.core.grid import Quad
    from reefdask.demo.plan import plan_demo
    from reefdask.errors import ConfigError

    p = plan_demo(tmp_path, quads=16, size=64, seed=0, fast=True)
    assert len(set(p.quads)) == 16 and p.corrupt not in p.quads and p.no_reef not in p.held_out
    assert len(p.held_out) == 2 and set(p.train_quads) == set(p.quads) - set(p.held_out)
    block = [Quad.parse(q) for q in p.quads if q != p.no_reef]
    c, first = Quad.parse(p.corrupt), block[0]
    assert c.y == first.y and c.x == max(q.x for q in block) + 1
    # the no-reef quad: no neighbour in the inventory but open water east of it (no reef in its halo)
    nr, water = Quad.parse(p.no_reef), Quad.parse(p.water)
    others = {Quad.parse(q) for q in [*p.quads, p.corrupt]} - {nr}
    assert set(nr.neighbours()) & others == set() and water == nr.offset(1, 0)
    assert p.water not in p.quads and p.synthetic == [*p.quads, p.water]
    with pytest.raises(ConfigError, match="--quads 4 or more"):
        plan_demo(tmp_path, quads=3, size=64, seed=0, fast=True)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    first = _demo(out)
    summary = json.loads((out / "demo.json").read_text())
    second = _demo(out)
    again = json.loads((out / "demo.json").read_text())
    return out, first, summary, second, again


@pytest.mark.slow
@pytest.mark.tf
def test_every_step_ran_and_the_console_says_where_things_are(demo):
    _, stdout, summary, _, _ = demo
    steps = [
        "synth",
        "inventory",
        "acquire",
        "clean",
        "ingest",
        "samples",
        "train",
        "predict",
        "calval",
        "global",
        "progress",
        "export",
    ]
    assert list(summary["steps"])[: len(steps)] == steps
    for name in steps:
        assert f"[{name}]" in stdout
    for where in ("index.html", "report/index.html", "report.html", "global-progress.png", "collection.json"):
        assert where in stdout
    assert "dashboard" in stdout and summary["dashboard"].startswith("http")


@pytest.mark.slow
@pytest.mark.tf
def test_the_corrupt_quad_is_refused_at_acquire_and_marked_corrupt_by_the_global_run(demo):
    out, _, summary, _, _ = demo
    st = summary["steps"]
    corrupt = st["synth"]["corrupt"]
    assert len(st["acquire"]["refused"]) == 1 and corrupt in st["acquire"]["refused"][0]
    assert not (out / "acquired" / "imagery" / "belize" / f"{corrupt}.tif").exists()
    assert len(st["inventory"]["quads"]) == 18 and corrupt in st["inventory"]["quads"]
    assert st["global"]["statuses"][corrupt] == "corrupt"
    assert st["progress"]["counts"]["corrupt"] == 1 and corrupt in st["progress"]["failures"]
    others = [s for q, s in st["global"]["statuses"].items() if q != corrupt]
    assert len(others) == 17 and set(others) <= {"done", "no_reef"}


@pytest.mark.slow
@pytest.mark.tf
def test_the_reef_free_quad_is_recorded_no_reef(demo):
    _, _, summary, _, _ = demo
    st = summary["steps"]
    no_reef, water = st["synth"]["no_reef"], st["synth"]["water"]
    assert st["synth"]["kinds"][no_reef] == st["synth"]["kinds"][water] == "no_reef"
    assert st["global"]["statuses"][no_reef] == "no_reef"
    assert st["progress"]["counts"]["no_reef"] >= 1


@pytest.mark.slow
@pytest.mark.tf
def test_clean_made_every_acquired_quad_and_later_stages_read_it(demo):
    import rasterio

    out, _, summary, _, _ = demo
    st = summary["steps"]
    n = len(st["synth"]["quads"])  # every synthesized quad was acquired (the corrupt one is not)
    assert st["clean"]["counts"] == {"imagery": {"made": n}, "labels": {"made": n}}
    images = sorted((out / "clean" / "imagery").glob("L15-*.tif"))
    assert len(images) == n and len(list((out / "clean" / "labels").glob("L15-*.tif"))) == n
    with rasterio.open(images[0]) as ds:
        assert ds.count == 3 and ds.nodatavals == (0.0, 0.0, 0.0)  # alpha became nodata 0
    assert len(st["ingest"]["written"]) == n
    config = json.loads((out / "demo-settings.json").read_text())
    assert all("/clean/" in s["features"] and "/clean/" in s["labels"] for s in config["samples"]["scenes"])


@pytest.mark.slow
@pytest.mark.tf
def test_model_card_and_training_report(demo):
    from reefdask.model.card import ModelCard

    out, _, summary, _, _ = demo
    card = ModelCard.load(summary["steps"]["train"]["card"])
    assert card.bands == [1, 2, 3] and len(card.fingerprint) == 16
    for key in ("val_macro_f1", "val_loss", "reef_f1"):
        assert 0 <= card.metrics[key] < 100
    assert (out / "model" / "unet.keras").stat().st_size > 0
    for fig in summary["steps"]["train"]["figures"]:
        assert Path(fig).read_bytes()[:8] == PNG


@pytest.mark.slow
@pytest.mark.tf
def test_calval_reports_hold_numbers(demo):
    _, _, summary, _, _ = demo
    st = summary["steps"]["calval"]
    assert len(st["reports"]) == 2
    for q, html in st["reports"].items():
        rep = json.loads(Path(html).with_suffix(".json").read_text())
        f1 = rep["means"]["weighted_f1"]
        assert isinstance(f1, float) and 0 <= f1 <= 1
        assert st["scores"][q]["reef_f1"] == round(f1, 4)
    assert st["figures"] and all(Path(f).read_bytes()[:8] == PNG for f in st["figures"])


@pytest.mark.slow
@pytest.mark.tf
def test_progress_map_cogs_and_stac(demo):
    import pystac
    import rasterio
    from rio_cogeo.cogeo import cog_validate

    out, _, summary, _, _ = demo
    assert Path(summary["steps"]["progress"]["map"]).read_bytes()[:8] == PNG
    assert [Path(f).name for f in summary["steps"]["export"]["figures"]] == ["global-heat.png"]
    assert Path(summary["steps"]["export"]["figures"][0]).read_bytes()[:8] == PNG
    cogs = sorted((out / "export" / "cogs").rglob("*.tif"))
    n_done = sum(s == "done" for s in summary["steps"]["global"]["statuses"].values())
    assert len(cogs) == summary["steps"]["export"]["cogs"] == 4 * n_done
    for cog in cogs[:: max(1, len(cogs) // 8)]:
        with rasterio.open(cog) as ds:
            assert ds.crs.to_epsg() == 3857 and ds.read(1).shape == (ds.height, ds.width)
        valid, errors, _ = cog_validate(str(cog))
        assert valid, errors
    collection = pystac.Collection.from_file(summary["steps"]["export"]["stac"])
    assert collection.validate_all() == n_done


@pytest.mark.slow
@pytest.mark.tf
def test_index_links_existing_files(demo):
    out, _, _, _, _ = demo
    html = (out / "index.html").read_text()
    targets = re.findall(r'(?:href|src)="([^"]+)"', html)
    assert len(targets) > 10
    for t in targets:
        assert (out / t).is_file(), t
    for must in (
        "model/report/index.html",
        "report.html",
        "global-progress.png",
        "global-heat.png",
        "export/stac/collection.json",
    ):
        assert any(t.endswith(must) for t in targets), must


@pytest.mark.slow
@pytest.mark.tf
def test_a_second_run_reuses_finished_work(demo):
    _, _, first, stdout, again = demo
    st = again["steps"]
    assert st["synth"]["reused"] is True
    n = len(first["steps"]["synth"]["quads"])
    assert st["acquire"]["copied"] == 0 and st["acquire"]["skipped"] == 2 * n
    assert st["clean"]["counts"] == {"imagery": {"skipped": n}, "labels": {"skipped": n}}
    assert st["ingest"]["written"] == [] and len(st["ingest"]["skipped"]) == n
    assert (
        st["samples"]["built"] is False
        and st["samples"]["n_samples"] == first["steps"]["samples"]["n_samples"]
    )
    assert st["train"]["skipped"] is True and "skipped" in stdout
    assert st["predict"]["computed"] == 0
    assert st["global"]["nothing_to_do"] is True and "nothing to do" in stdout
    assert st["global"]["statuses"] == {}
    assert st["progress"]["counts"] == first["steps"]["progress"]["counts"]
    assert st["calval"]["scores"] == first["steps"]["calval"]["scores"]


@pytest.mark.slow
@pytest.mark.tf
def test_a_demo_with_other_settings_is_refused_in_the_same_folder(demo):
    out = demo[0]
    proc = _run(out, "--quads", "9")
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "holds a demo made with other settings" in text and "--out" in text
    assert "Traceback" not in text
