import json

import numpy as np
import pystac
import pytest
import rasterio
from globalmap_support import make_model, make_quads
from rio_cogeo.cogeo import cog_validate

from reefdask.config import load_config
from reefdask.core.grid import Quad
from reefdask.globalmap.config import GlobalConfig
from reefdask.globalmap.export import block_of, export_run
from reefdask.globalmap.mapstore import MapStore
from reefdask.globalmap.run import run_job

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    make_quads(root, n=4, size=64)
    model = make_model(root / "m.keras")
    run = root / "run"
    cfg = load_config(
        {
            "run": str(run),
            "models": [model],
            "inventory": str(root / "imagery"),
            "products": ["probabilities", "coarse", "classes", "heat", "outline"],
        },
        GlobalConfig,
    )
    report = run_job(cfg, log=lambda s: None)
    assert set(report.statuses.values()) == {"done"}
    return run, sorted(report.statuses)


@pytest.mark.parametrize("block", [1, 2])
def test_export_cogs_vrt_and_stac(finished_run, tmp_path, block):
    run, quads = finished_run
    out = tmp_path / "export"
    summary = export_run(str(run), str(out), block=block)
    n_blocks = len({block_of(Quad.parse(q), block) for q in quads})
    assert summary["blocks"] == n_blocks and summary["cogs"] == 5 * n_blocks
    for cog in (out / "cogs").rglob("*.tif"):
        valid, errors, _ = cog_validate(str(cog))
        assert valid, (cog, errors)
    with rasterio.open(next((out / "cogs" / "classes").glob("*.tif"))) as f:
        assert f.tags()["OVERVIEW_RESAMPLING"] == "NEAREST"
    with rasterio.open(next((out / "cogs" / "heat").glob("*.tif"))) as f:
        assert f.tags()["OVERVIEW_RESAMPLING"] == "AVERAGE"
    # the VRT mosaic opens and holds exactly the run's products
    store = MapStore(str(run / "map.zarr"))
    grid = store.grid()
    with rasterio.open(out / "heat.vrt") as vrt:
        assert vrt.crs.to_epsg() == 3857 and vrt.nodata == 255
        mosaic = vrt.read(1)
        for q in quads:
            rows, cols = grid.region(Quad.parse(q))
            r0 = round(
                (vrt.transform.f - (grid.transform()[3] - rows.start * grid.pixel_size)) / grid.pixel_size
            )
            c0 = round(
                (grid.transform()[0] + cols.start * grid.pixel_size - vrt.transform.c) / grid.pixel_size
            )
            np.testing.assert_array_equal(
                mosaic[r0 : r0 + 64, c0 : c0 + 64], store.read("heat", Quad.parse(q))
            )
    with rasterio.open(out / "coarse.vrt") as vrt:
        assert vrt.count == 5
    # STAC validates offline against the core schemas, with provenance and product assets
    collection = pystac.Collection.from_file(str(out / "stac" / "collection.json"))
    assert collection.validate_all() == n_blocks
    items = list(collection.get_items(recursive=True))
    assert {a for it in items for a in it.assets} == {"probabilities", "coarse", "classes", "heat", "outline"}
    prov = json.loads((out / "stac" / "collection.json").read_text())["reefdask:provenance"]
    assert prov["reefdask:models"][0]["fingerprint"]
    assert sorted(q for it in items for q in it.properties["reefdask:quads"]) == quads
