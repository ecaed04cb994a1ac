"""`reefdask calval CONFIG` and `reefdask compare` end to end on tiny GeoTIFFs made here; the
example config validates and runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from reefdask.calval.config import CalvalConfig
from reefdask.cli import app
from reefdask.config import load_config
from reefdask.errors import ConfigError
from reefdask.testing.calval import make_calval_scene

EXAMPLE = Path(__file__).resolve().parents[1] / "pipelines" / "configs" / "calval.yaml"


def test_example_config_validates():
    cfg = load_config(str(EXAMPLE), CalvalConfig)
    assert cfg.level == "reef" and [m.name for m in cfg.models] and cfg.baselines[0].field == "class"


def test_config_errors_name_the_key():
    good = {"outdir": "o", "reference": {"url": "r.tif"}, "models": [{"name": "a", "url": "p.tif"}]}
    with pytest.raises(ConfigError, match="alignn"):
        load_config({**good, "alignn": True}, CalvalConfig)
    with pytest.raises(ConfigError, match="field"):
        load_config({**good, "baselines": [{"name": "b", "url": "reef.geojson"}]}, CalvalConfig)
    with pytest.raises(ConfigError, match="unique"):
        load_config({**good, "baselines": [{"name": "a", "url": "x.tif"}]}, CalvalConfig)
    with pytest.raises(ConfigError, match="at least one"):
        load_config({**good, "models": []}, CalvalConfig)


@pytest.mark.slow
def test_calval_and_compare_commands_end_to_end(tmp_path):
    make_calval_scene(tmp_path / "demo-calval", seed=5)
    config = tmp_path / "calval.yaml"
    shutil.copy(EXAMPLE, config)  # the example config itself, next to the files it names
    result = CliRunner().invoke(app, ["calval", str(config)])
    assert result.exit_code == 0, result.output
    assert "ranking by area-weighted F1" in result.output
    out = tmp_path / "demo-calval" / "reports"
    for name in ("unet-probabilities", "unet-classes", "reef-polygons"):
        assert (out / name / "report.html").exists() and (out / name / "figures" / "confusion.png").exists()
    ranking = json.loads((out / "comparison" / "comparison.json").read_text())["ranking"]
    assert ranking[0]["name"] == "reef-polygons" and len(ranking) == 3
    f1 = [r["weighted_f1"] for r in ranking]
    assert f1 == sorted(f1, reverse=True)

    result = CliRunner().invoke(
        app,
        [
            "compare",
            str(out / "unet-classes" / "report.json"),
            str(out / "reef-polygons" / "report.json"),
            "-o",
            str(tmp_path / "c"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c" / "comparison.png").exists()


@pytest.mark.slow
def test_cli_grid_mismatch_is_a_one_line_error(tmp_path):
    import rasterio

    s = make_calval_scene(tmp_path / "scene", seed=1)
    with rasterio.open(s["reference"]) as src:
        prof, data = src.profile, src.read(1)
    prof.update(transform=src.transform * rasterio.Affine.translation(3, 0))  # shifted by 3 pixels
    with rasterio.open(tmp_path / "shifted.tif", "w", **prof) as dst:
        dst.write(data, 1)
    cfg = {
        "outdir": str(tmp_path / "out"),
        "reference": {"url": str(tmp_path / "shifted.tif")},
        "models": [{"name": "m", "url": s["prediction"]}],
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    exe = Path(sys.executable).with_name("reefdask")
    proc = subprocess.run([str(exe), "calval", str(tmp_path / "c.yaml")], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "error:" in proc.stderr and "align: true" in proc.stderr and "Traceback" not in proc.stderr
