"""``reefdask predict`` and ``reefdask status`` on a real GeoTIFF and Zarr store."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from reefdask.cli import app
from reefdask.testing.models import scene_array, tiny_fcn, write_tif

pytestmark = pytest.mark.tf


def test_predict_then_status(tmp_path):
    model = str(tmp_path / "m.keras")
    tiny_fcn(model, classes=3, seed=1)
    tif = write_tif(tmp_path / "L15-0001E-0002N.tif", scene_array(64, 96, seed=2, nodata_box=(0, 32, 0, 32)))
    out = str(tmp_path / "out.zarr")
    runner = CliRunner()
    plan = runner.invoke(
        app, ["predict", "--model", model, "--imagery", tif, "--out", out, "--chunk", "32", "--plan"]
    )
    assert plan.exit_code == 0, plan.output
    assert "grid 2 x 3 = 6 chunks" in plan.output and "6 to do" in plan.output
    res = runner.invoke(app, ["predict", "--model", model, "--imagery", tif, "--out", out, "--chunk", "32"])
    assert res.exit_code == 0, res.output
    assert "5 done, 1 skipped, 0 failed" in res.output
    st = runner.invoke(app, ["status", out, "--json"])
    assert st.exit_code == 0
    status = json.loads(st.output)
    assert status["counts"] == {"done": 5, "skipped": 1, "failed": 0, "pending": 0}
    assert status["scene"] == "L15-0001E-0002N" and len(status["fingerprint"]) == 16
    text = runner.invoke(app, ["status", out]).output
    assert "5 done, 1 skipped, 0 failed, 0 pending of 6 chunks" in text
    import xarray as xr

    ds = xr.open_zarr(out, consolidated=False, zarr_format=3)
    assert (ds.classes.values[:32, :32] == 255).all() and (ds.classes.values[32:] != 255).all()
    assert ds.rio.crs.to_epsg() == 3857
    # a rerun does nothing; another model is refused with both fingerprints named
    again = runner.invoke(app, ["predict", "--model", model, "--imagery", tif, "--out", out, "--chunk", "32"])
    assert again.exit_code == 0 and "0 computed by this run" in again.output
    other = str(tmp_path / "other.keras")
    tiny_fcn(other, classes=3, seed=9)
    refused = runner.invoke(
        app, ["predict", "--model", other, "--imagery", tif, "--out", out, "--chunk", "32"]
    )
    assert refused.exit_code != 0 and status["fingerprint"] in str(refused.exception)


def test_failed_chunks_make_the_cli_exit_non_zero(tmp_path):
    model = str(tmp_path / "m.keras")
    tiny_fcn(model, classes=3, seed=1)
    tif = write_tif(tmp_path / "scene.tif", scene_array(64, 64, seed=3))
    with rasterio.open(tif) as src:
        offset = int(src.get_tag_item("BLOCK_OFFSET_1_1", "TIFF", bidx=1))
        size = int(src.get_tag_item("BLOCK_SIZE_1_1", "TIFF", bidx=1))
    with open(tif, "r+b") as f:
        f.seek(offset)
        f.write(np.full(size, 0xFF, dtype="uint8").tobytes())
    out = str(tmp_path / "out.zarr")
    res = CliRunner().invoke(
        app, ["predict", "--model", model, "--imagery", tif, "--out", out, "--chunk", "32"]
    )
    assert res.exit_code == 1
    assert "failed chunk 1-1" in res.output
    status = json.loads(CliRunner().invoke(app, ["status", out, "--json"]).output)
    assert "1-1" in status["failures"] and status["counts"]["failed"] >= 1


@pytest.mark.slow
def test_predict_on_the_local_cluster_profile(tmp_path):
    """``--cluster local`` runs the chunks on the profile's worker process, not in the CLI's."""
    import os

    import dask

    from reefdask.predict import Ledger

    model = str(tmp_path / "m.keras")
    tiny_fcn(model, classes=3, seed=1)
    tif = write_tif(tmp_path / "scene.tif", scene_array(64, 64, seed=4))
    out, ref = str(tmp_path / "out.zarr"), str(tmp_path / "ref.zarr")
    profile = {"n-workers": 1, "threads-per-worker": 1, "dashboard-address": ":0"}
    with dask.config.set({f"reefdask.cluster.profiles.local.{k}": v for k, v in profile.items()}):
        res = CliRunner().invoke(
            app,
            [
                "predict",
                "--model",
                model,
                "--imagery",
                tif,
                "--out",
                out,
                "--chunk",
                "32",
                "--cluster",
                "local",
            ],
        )
    assert res.exit_code == 0, res.output
    assert "4 done, 0 skipped, 0 failed" in res.output
    pids = {rec.pid for rec in Ledger(out).records()}
    assert len(pids) == 1 and os.getpid() not in pids  # one worker process did every chunk
    assert (
        CliRunner()
        .invoke(app, ["predict", "--model", model, "--imagery", tif, "--out", ref, "--chunk", "32"])
        .exit_code
        == 0
    )
    import xarray as xr

    a, b = (xr.open_zarr(s, consolidated=False, zarr_format=3) for s in (out, ref))
    assert a.probabilities.values.tobytes() == b.probabilities.values.tobytes()
