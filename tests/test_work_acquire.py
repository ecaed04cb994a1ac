"""Acquire records each verified copy in the work layer's format; older `.verified.json` still reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import rasterio

from reefdask.acquire import Manifest, acquire
from reefdask.core.grid import Quad
from reefdask.io.store_local import LocalStore
from reefdask.work import Records

QUADS = ["L15-0525E-1122N", "L15-0526E-1122N"]


def _sources(root: Path) -> None:
    root.mkdir(parents=True)
    for i, q in enumerate(QUADS):
        data = np.random.default_rng(i).integers(1, 255, (3, 16, 16), dtype="uint8")
        profile = dict(driver="GTiff", width=16, height=16, count=3, dtype="uint8", crs="EPSG:3857")
        transform = Quad.parse(q).transform(size=16)
        with rasterio.open(root / f"{q}.tif", "w", **profile, transform=transform) as ds:
            ds.write(data)


def test_verified_copies_are_work_records_and_old_caches_still_read(tmp_path: Path) -> None:
    _sources(tmp_path / "src")
    source = {"name": "s", "kind": "imagery", "url": str(tmp_path / "src")}
    m = Manifest.model_validate({"destination": str(tmp_path / "raw"), "backoff": 0.01, "sources": [source]})
    rep = acquire(m, progress=False)
    assert len(rep.copied) == 2 and rep.ok
    folder = tmp_path / "raw" / "imagery"
    records = Records(LocalStore(folder), "_work")
    listing = records.scan()  # one listing: every copied file's status
    assert {u: e.status for u, e in listing.items()} == {f"{q}.tif": "done" for q in QUADS}
    rec = records.get(f"{QUADS[0]}.tif", listing[f"{QUADS[0]}.tif"])
    assert rec is not None and rec.info["size"] == (folder / f"{QUADS[0]}.tif").stat().st_size
    assert not list(folder.glob(".*.verified.json"))  # no second kind of record

    rep2 = acquire(m, progress=False)
    assert len(rep2.skipped) == 2 and all(o.verified_by.endswith("(cached)") for o in rep2.skipped)

    # a destination verified before the work layer: only `.<name>.verified.json` beside the file
    legacy = {u: records.get(u, e).info for u, e in listing.items()}
    shutil.rmtree(folder / "_work")
    for name, info in legacy.items():
        (folder / f".{name}.verified.json").write_text(json.dumps(info))
    rep3 = acquire(m, progress=False)
    assert len(rep3.skipped) == 2 and all(o.verified_by.endswith("(cached)") for o in rep3.skipped)
