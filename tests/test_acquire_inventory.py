"""Inventory and manifest: real GeoTIFFs in region folders, on disk and on the GCS emulator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from reefdask.acquire import Inventory, Manifest, build_inventory, load_inventory, load_manifest
from reefdask.cli import app
from reefdask.core.grid import Quad
from reefdask.errors import ConfigError, InputNotFoundError

ROOT = Path(__file__).resolve().parents[1]


def write_quad(path: Path, quad: str, size: int = 32, seed: int = 0) -> Path:
    """A tiny RGB+alpha quad GeoTIFF on the real quad transform."""
    q = Quad.parse(quad)
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 255, (4, size, size), dtype="uint8")
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(driver="GTiff", width=size, height=size, count=4, dtype="uint8",
                   crs="EPSG:3857", transform=q.transform(size=size))  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return path


LAYOUT = {
    "belize": ["L15-0525E-1122N", "L15-0526E-1122N", "L15-0525E-1123N"],
    "atoll": ["L15-0525E-1122N", "L15-0600E-1000N"],
}


@pytest.fixture
def mosaic(tmp_path: Path) -> Path:
    root = tmp_path / "mosaic"
    for region, quads in LAYOUT.items():
        for i, q in enumerate(quads):
            write_quad(root / region / f"{q}.tif", q, seed=i)
    (root / "belize" / "readme.tif").write_bytes(b"not a quad name")
    return root


def test_inventory_groups_regions_and_neighbours(mosaic: Path, tmp_path: Path) -> None:
    inv = build_inventory(str(mosaic))
    assert inv.ids == ["L15-0525E-1122N", "L15-0525E-1123N", "L15-0526E-1122N", "L15-0600E-1000N"]
    dup = inv["L15-0525E-1122N"]
    assert dup.regions == ["atoll", "belize"] and len(dup.locations) == 2
    assert dup.neighbours == ["L15-0525E-1123N", "L15-0526E-1122N"]
    assert inv["L15-0600E-1000N"].neighbours == []
    s = inv.summary()
    assert (s["quads"], s["files"], s["quads_in_several_regions"], s["ignored_files"]) == (4, 5, 1, 1)
    for ext in ("parquet", "csv"):
        out = inv.write(str(tmp_path / f"inv.{ext}"))
        back = load_inventory(out)
        assert back.ids == inv.ids
        assert [(r.locations, r.regions, r.neighbours, r.size) for r in back.records] == [
            (r.locations, r.regions, r.neighbours, r.size) for r in inv.records
        ]
        assert json.loads(Path(f"{out}.summary.json").read_text())["quads"] == 4


def test_inventory_errors(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="does not exist"):
        build_inventory(str(tmp_path / "nope"))
    inv = build_inventory(str(tmp_path))
    with pytest.raises(ConfigError, match=r"\.parquet or \.csv"):
        inv.write(str(tmp_path / "inv.txt"))
    with pytest.raises(InputNotFoundError, match="reefdask inventory"):
        load_inventory(str(tmp_path / "missing.parquet"))


def test_inventory_cli_json(mosaic: Path, tmp_path: Path) -> None:
    out = tmp_path / "inv.parquet"
    res = CliRunner().invoke(app, ["inventory", str(mosaic), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["quads"] == 4 and data["regions"] == {"atoll": 2, "belize": 3}
    assert load_inventory(str(out)).ids[0] == "L15-0525E-1122N"
    res = CliRunner().invoke(app, ["inventory", str(mosaic)])
    assert "4 quads in 5 files, 1 in several regions" in res.output


@pytest.mark.gcs
def test_inventory_on_gcs(gcs_bucket: str, mosaic: Path) -> None:
    from reefdask.io.storage import filesystem

    fs, root = filesystem(gcs_bucket)
    fs.put(str(mosaic), f"{root}/mosaic", recursive=True)
    inv = build_inventory(f"{gcs_bucket}/mosaic")
    assert len(inv) == 4
    assert inv["L15-0525E-1122N"].locations == [
        f"{gcs_bucket}/mosaic/atoll/L15-0525E-1122N.tif",
        f"{gcs_bucket}/mosaic/belize/L15-0525E-1122N.tif",
    ]


def test_manifest_example_loads() -> None:
    m = load_manifest(ROOT / "pipelines" / "configs" / "acquire.yaml")
    assert {s.kind for s in m.sources} >= {"imagery", "labels"}
    assert all(s.dest_folder for s in m.sources)


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"colour": 1}, r"colour: unknown key"),
        ({"workers": 0}, r"workers: Input should be greater than or equal to 1"),
        ({"sources": [{"name": "a", "kind": "imagery"}]}, "either `url`"),
        ({"sources": [{"name": "a", "kind": "cats", "url": "x"}]}, r"sources\.0\.kind"),
        (
            {
                "sources": [
                    {"name": "a", "kind": "imagery", "url": "x"},
                    {"name": "a", "kind": "labels", "url": "y"},
                ]
            },
            "unique",
        ),
    ],
)
def test_manifest_errors_name_the_key(patch: dict, match: str) -> None:
    base = {"destination": "/tmp/x", "sources": [{"name": "a", "kind": "imagery", "url": "gs://b/m"}]}
    with pytest.raises(ConfigError, match=match):
        Manifest.from_yaml(yaml.safe_dump({**base, **patch}))


def test_manifest_filters(mosaic: Path, tmp_path: Path) -> None:
    from reefdask.acquire import plan_copies

    m = Manifest.model_validate({
        "destination": str(tmp_path / "raw"),
        "sources": [{"name": "q", "kind": "imagery", "url": str(mosaic),
                     "filters": {"quads": ["L15-0525E-*"], "exclude_regions": ["atoll"]}}],
    })  # fmt: skip
    items, empty = plan_copies(m)
    assert sorted(Path(i.dest).relative_to(tmp_path / "raw").as_posix() for i in items) == [
        "imagery/belize/L15-0525E-1122N.tif",
        "imagery/belize/L15-0525E-1123N.tif",
        "imagery/belize/readme.tif",  # not a quad name: quad filters do not apply
    ]
    assert empty == []


@settings(max_examples=50, deadline=None)
@given(
    cells=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 5), st.sampled_from(["a", "b", "c"])),
        min_size=1,
        max_size=30,
    )
)
def test_inventory_invariants(cells: list[tuple[int, int, str]]) -> None:
    paths = {f"/m/{r}/{Quad((2045 + x) % 2048, 100 + y).id}.tif": 1 for x, y, r in cells}
    inv = Inventory.from_paths(paths, root="/m")
    ids = inv.ids
    assert ids == sorted(set(ids)) and sum(len(r.locations) for r in inv.records) == len(paths)
    for rec in inv.records:
        assert rec.regions == sorted({p.split("/")[2] for p in rec.locations})
        for (
            n
        ) in rec.neighbours:  # neighbours exist and the relation is symmetric (across the antimeridian too)
            assert rec.id in inv[n].neighbours
