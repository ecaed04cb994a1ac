"""Acquire then clean, with the synthetic provider quads on the GCS emulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from reefdask.acquire import Manifest, acquire, build_inventory
from reefdask.clean import CleanConfig, run_clean
from reefdask.core.grid import Quad
from reefdask.core.nodata import LABEL_NODATA
from reefdask.synthetic import synth_quads, write_corrupt_quad

BLOCK = ["L15-0525E-1122N", "L15-0526E-1122N", "L15-0525E-1123N", "L15-0526E-1123N"]


@pytest.fixture
def provider_bucket(gcs_bucket: str, tmp_path: Path) -> str:
    """Synthetic quads in two region folders (one quad in both) and a truncated GeoTIFF."""
    from reefdask.io.storage import filesystem

    root = f"{gcs_bucket}/mosaic"
    synth_quads(root, quads=BLOCK, size=64, region="belize")
    synth_quads(root, quads=BLOCK[:1], size=64, region="lighthouse")
    bad = write_corrupt_quad(tmp_path / "L15-0527E-1122N.tif", "L15-0527E-1122N", size=256)
    fs, path = filesystem(root)
    fs.put_file(bad, f"{path}/imagery/belize/L15-0527E-1122N.tif")
    fs.invalidate_cache()
    return root


@pytest.mark.gcs
@pytest.mark.slow
def test_acquire_then_clean_synthetic_quads(provider_bucket: str, tmp_path: Path) -> None:
    inv = build_inventory(f"{provider_bucket}/imagery")
    assert len(inv) == 5 and inv[BLOCK[0]].regions == ["belize", "lighthouse"]
    assert inv[BLOCK[0]].neighbours == sorted(BLOCK[1:])

    raw = tmp_path / "raw"
    manifest = Manifest.model_validate({
        "destination": str(raw), "workers": 4,
        "sources": [
            {"name": "quads", "kind": "imagery", "url": f"{provider_bucket}/imagery"},
            {"name": "labels", "kind": "labels", "url": f"{provider_bucket}/labels"},
        ],
    })  # fmt: skip
    rep = acquire(manifest, progress=False)
    assert len(rep.copied) == 5 + 5 and len(rep.failed) == 1
    assert "L15-0527E-1122N" in rep.failed[0].item.source and "not a readable raster" in rep.failed[0].reason
    assert not (raw / "imagery/belize/L15-0527E-1122N.tif").exists()

    cfg = CleanConfig.model_validate({
        "imagery": {"inputs": str(raw / "imagery"), "output": str(tmp_path / "clean/imagery"), "factor": 2},
        "labels": {"output": str(tmp_path / "clean/labels"), "min_non_land_fraction": 0.0,
                   "sources": [{"kind": "raster", "path": str(raw / "labels/belize/*.tif")}]},
        "boundaries": {"output": str(tmp_path / "clean/boundaries")},
    })  # fmt: skip
    out = run_clean(cfg, progress=False)
    assert out.ok, out.summary()
    assert out.counts()["imagery"] == {"made": 4} and out.counts()["labels"] == {"made": 4}
    for q in BLOCK:
        with rasterio.open(tmp_path / f"clean/labels/{q}.tif") as lab, \
             rasterio.open(raw / f"labels/belize/{q}.tif") as src:  # fmt: skip
            assert lab.transform.almost_equals(Quad.parse(q).transform(size=32))
            got, full = lab.read(1), src.read(1)
        # nearest onto the 2x grid: each output pixel is one of its 2x2 source labels
        blocks = full.reshape(32, 2, 32, 2).transpose(0, 2, 1, 3).reshape(32, 32, 4)
        assert ((blocks == got[..., None]).any(-1) | (got == LABEL_NODATA)).all()
        assert np.isin(got, [*range(1, 15), LABEL_NODATA]).all()


def test_acquire_on_a_distributed_client(tmp_path: Path) -> None:
    from distributed import Client

    src = tmp_path / "src" / "belize"
    src.mkdir(parents=True)
    for i in range(3):
        (src / f"L15-052{i}E-1122N.bin").write_bytes(bytes([i]) * 1000)
    m = Manifest.model_validate({
        "destination": str(tmp_path / "raw"),
        "sources": [{"name": "s", "kind": "other", "url": str(tmp_path / "src"), "pattern": "**/*.bin"}],
    })  # fmt: skip
    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as client:
        rep = acquire(m, progress=False, client=client)
    assert len(rep.copied) == 3
    assert (tmp_path / "raw/other/belize/L15-0522E-1122N.bin").read_bytes() == bytes([2]) * 1000
