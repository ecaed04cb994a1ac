"""Sample builder invariants: windows inside rasters, rejections, spatial folds, weights, quotas, rebuilds."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.enums import ColorInterp

from reefdask.errors import ConfigError
from reefdask.train.config import SamplesConfig
from reefdask.train.sample_writer import class_weights
from reefdask.train.samples import _assign_folds, _candidates, _select, build_samples
from reefdask.train.store import open_samples
from reefdask.train.windows import SceneInfo

COLORS = {1: (120, 100, 60), 3: (10, 40, 90), 5: (200, 120, 90), 8: (230, 200, 160)}


def make_scene(
    d: Path, name: str, size: int = 128, seed: int = 0, nodata_rows: int = 0, boundary: bool = False
) -> dict:
    """A tiny seeded scene: RGBA uint8 imagery + int16 labels (nodata -9999) + optional boundary."""
    rng = np.random.default_rng(seed)
    t = Affine(10.0, 0.0, 1000.0 * seed, 0.0, -10.0, 5000.0)
    yy, xx = np.mgrid[:size, :size]
    lab = np.full((size, size), 3, "int16")  # deep water
    lab[(yy // 16 + xx // 16 + seed) % 3 == 0] = 5  # forereef
    lab[(yy // 32) % 4 == 1] = 1  # land stripes
    lab[((yy - 40 - seed) ** 2 + (xx - 70) ** 2) < 36] = 8  # a rare pinnacle
    lab[:4] = -9999
    rgb = np.zeros((4, size, size), "uint8")
    for c, col in COLORS.items():
        for b in range(3):
            rgb[b][lab == c] = col[b]
    rgb[:3] = np.clip(rgb[:3].astype(int) + rng.integers(-10, 10, (3, size, size)), 1, 255)
    rgb[3] = 255
    if nodata_rows:
        rgb[3, -nodata_rows:] = 0
    prof = dict(driver="GTiff", width=size, height=size, crs="EPSG:3857", transform=t)
    out = {"features": str(d / f"{name}.tif"), "labels": str(d / f"{name}_labels.tif")}
    with rasterio.open(out["features"], "w", count=4, dtype="uint8", **prof) as ds:
        ds.write(rgb)
        ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    with rasterio.open(out["labels"], "w", count=1, dtype="int16", nodata=-9999, **prof) as ds:
        ds.write(lab, 1)
    if boundary:
        out["boundary"] = str(d / f"{name}_boundary.tif")
        with rasterio.open(out["boundary"], "w", count=1, dtype="uint8", **prof) as ds:
            ds.write((xx < size * 0.6).astype("uint8"), 1)
    return out


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    d = tmp_path_factory.mktemp("scenes")
    return [make_scene(d, f"s{i}", seed=i, nodata_rows=24 * (i == 1), boundary=(i == 2)) for i in range(3)]


def _cfg(store, scenes, **kw):
    base = dict(
        store=str(store),
        scenes=scenes,
        window_radius=16,
        loss_window_radius=8,
        stride=8,
        n_folds=4,
        validation_fold=0,
        test_fold=3,
        fold_block=32,
        max_samples=40,
        max_per_scene=15,
        chunk_samples=8,
        max_feature_nodata=0.2,
        max_response_nodata=0.5,
        max_outside_boundary=0.3,
    )
    return SamplesConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def built(scenes, tmp_path_factory):
    cfg = _cfg(tmp_path_factory.mktemp("store") / "s.zarr", scenes)
    return cfg, build_samples(cfg)


def test_store_invariants(built, scenes):
    cfg, report = built
    s = open_samples(cfg.store)
    size, crop = 32, 8
    rows, cols, scene, fold = (s.read(k, 0, len(s)) for k in ("row", "col", "scene", "fold"))
    assert report.built and len(s) == report.n_samples > 0
    # quotas: per scene and total
    assert max(np.bincount(scene)) <= 15 and len(s) <= 40
    # windows inside their rasters (128 x 128)
    assert (
        (rows >= 0).all() and (cols >= 0).all() and (rows + size <= 128).all() and (cols + size <= 128).all()
    )
    feats, resp, w = (
        s.read("features", 0, len(s)),
        s.read("responses", 0, len(s)),
        s.read("weights", 0, len(s)),
    )
    # rejection thresholds, recomputed from what was stored
    valid = ~(feats == 0).all(-1)
    assert ((1 - valid.mean((1, 2))) <= cfg.max_feature_nodata + 1e-9).all()
    assert ((resp == 255).mean((1, 2)) <= cfg.max_response_nodata + 1e-9).all()
    assert (resp[~valid] == 255).all()
    with rasterio.open(scenes[2]["boundary"]) as ds:
        inside = ds.read(1) != 0
    for k in np.flatnonzero(scene == 2):
        win = inside[rows[k] : rows[k] + size, cols[k] : cols[k] + size]
        assert 1 - win.mean() <= cfg.max_outside_boundary + 1e-9
    # folds: sorted, disjoint ranges, footprints of different folds never overlap
    assert (np.diff(fold) >= 0).all()
    for a in range(len(s)):
        for b in range(a + 1, len(s)):
            if scene[a] == scene[b] and fold[a] != fold[b]:
                assert abs(int(rows[a]) - int(rows[b])) >= size or abs(int(cols[a]) - int(cols[b])) >= size
    assert set(s.indices("train")).isdisjoint(s.indices("validation"))
    assert set(s.indices("test")).isdisjoint(s.indices("train"))
    # weights: inverse class frequency on the training folds, 0 outside the loss window and on nodata
    train = np.isin(fold, [1, 2])
    inner = resp[train, crop:-crop, crop:-crop]
    counts = np.bincount(inner[inner != 255].ravel(), minlength=14)[:14]
    cw = class_weights(counts)
    assert np.allclose(s.attrs["class_weights"], cw)
    expect = np.where(resp == 255, 0.0, np.append(cw, np.zeros(256 - 14))[resp])
    expect[:, :crop] = expect[:, -crop:] = expect[:, :, :crop] = expect[:, :, -crop:] = 0
    assert np.allclose(w, expect)
    assert math.isclose((counts * cw).sum(), counts.sum())  # weighted pixels count as many as pixels


def test_rebuild_is_noop_and_changes_are_refused(built, scenes):
    cfg, _ = built
    before = sorted((p.name, p.stat().st_mtime_ns) for p in Path(cfg.store).rglob("*") if p.is_file())
    again = build_samples(cfg)
    after = sorted((p.name, p.stat().st_mtime_ns) for p in Path(cfg.store).rglob("*") if p.is_file())
    assert not again.built and before == after
    with pytest.raises(ConfigError, match=r"max_samples: 40 -> 30"):
        build_samples(_cfg(cfg.store, scenes, max_samples=30))
    rebuilt = build_samples(_cfg(cfg.store, scenes, max_samples=30, rebuild=True))
    assert rebuilt.built and rebuilt.n_samples <= 30
    assert open_samples(cfg.store).attrs["config"]["max_samples"] == 30


def _infos(shapes):
    return [
        SceneInfo(f"s{i}", "", "", None, h, w, (1,), None, "uint8", 0, (1, 0, 0, 0, -1, 0), None)
        for i, (h, w) in enumerate(shapes)
    ]


@settings(max_examples=40, deadline=None)
@given(
    shapes=st.lists(st.tuples(st.integers(20, 80), st.integers(20, 80)), min_size=1, max_size=3),
    r=st.integers(4, 12),
    stride=st.integers(3, 12),
    block=st.integers(4, 64),
    k=st.integers(2, 5),
    seed=st.integers(0, 100),
)
def test_candidates_inside_and_folds_separated(shapes, r, stride, block, k, seed):
    infos, size = _infos(shapes), 2 * r
    cand = _candidates(infos, size, stride)
    for s, row, col in cand:
        assert 0 <= row and row + size <= infos[s].height and 0 <= col and col + size <= infos[s].width
    cfg = SamplesConfig(
        store="x",
        scenes=[{"features": "a", "labels": "b"}],
        window_radius=r,
        loss_window_radius=1,
        n_folds=k,
        fold_block=block,
        seed=seed,
    )
    folds = _assign_folds(infos, cand, cfg, size)
    kept = np.flatnonzero(folds >= 0)
    c = cand[kept]
    f = folds[kept]
    same_scene = c[:, None, 0] == c[None, :, 0]
    overlap = (np.abs(c[:, None, 1] - c[None, :, 1]) < size) & (np.abs(c[:, None, 2] - c[None, :, 2]) < size)
    assert not (same_scene & overlap & (f[:, None] != f[None, :])).any()


@settings(max_examples=40, deadline=None)
@given(
    per_scene=st.lists(st.integers(0, 30), min_size=1, max_size=4),
    total=st.integers(1, 60),
    quota=st.integers(1, 20),
    mode=st.sampled_from(["none", "oversample"]),
    seed=st.integers(0, 50),
)
def test_quotas_met(per_scene, total, quota, mode, seed):
    cand = np.concatenate(
        [np.zeros((0, 3), "int64")] + [np.array([[s, 0, 0]] * n) for s, n in enumerate(per_scene) if n]
    ).astype("int64")
    rng = np.random.default_rng(seed)
    hist = rng.integers(0, 5, (len(cand), 14))
    hist[:, 0] += 1
    cfg = SamplesConfig(
        store="x",
        scenes=[{"features": "a", "labels": "b"}],
        max_samples=total,
        max_per_scene=quota,
        balance={"mode": mode},
        seed=seed,
    )
    chosen = _select(cand, hist, np.ones(len(cand), bool), cfg, len(per_scene), tuple(range(1, 15)))
    assert len(set(chosen)) == len(chosen)
    assert len(chosen) == min(total, sum(min(quota, n) for n in per_scene))
    assert all((cand[chosen, 0] == s).sum() <= quota for s in range(len(per_scene)))


def test_oversampling_raises_the_share_of_rare_classes():
    rng = np.random.default_rng(0)
    n = 400
    cand = np.zeros((n, 3), "int64")
    hist = np.zeros((n, 14), "int64")
    hist[:, 0] = 100
    rare = rng.random(n) < 0.05
    hist[rare, 7] = 20
    shares = {}
    for mode in ("none", "oversample"):
        cfg = SamplesConfig(
            store="x", scenes=[{"features": "a", "labels": "b"}], max_samples=40, balance={"mode": mode}
        )
        chosen = _select(cand, hist, np.ones(n, bool), cfg, 1, tuple(range(1, 15)))
        shares[mode] = rare[chosen].mean()
    assert shares["oversample"] > 2 * shares["none"]
    cfg = SamplesConfig(
        store="x",
        scenes=[{"features": "a", "labels": "b"}],
        max_samples=40,
        balance={"mode": "proportions", "targets": {1: 0.5, 8: 0.5}},
    )
    assert (
        rare[_select(cand, hist, np.ones(n, bool), cfg, 1, tuple(range(1, 15)))].mean() > 2 * shares["none"]
    )


@pytest.mark.gcs
def test_store_on_a_bucket_and_vector_boundary(scenes, gcs_bucket, tmp_path):
    """The same builder writes a sample store to gs:// (emulator); a vector boundary limits windows."""
    import geopandas as gpd
    from shapely.geometry import box

    with rasterio.open(scenes[0]["features"]) as ds:
        b = ds.bounds
    vec = tmp_path / "boundary.geojson"
    gpd.GeoDataFrame(
        geometry=[box(b.left, b.bottom, b.left + 0.5 * (b.right - b.left), b.top)], crs="EPSG:3857"
    ).to_file(vec)
    scene = {**scenes[0], "boundary": str(vec)}
    cfg = _cfg(f"{gcs_bucket}/samples.zarr", [scene], max_outside_boundary=0.0, n_folds=2, test_fold=None)
    report = build_samples(cfg)
    s = open_samples(cfg.store)
    assert report.built and len(s) == report.n_samples > 0
    assert (s.read("col", 0, len(s)) + 32 <= 64).all()  # every window inside the left half (64 px)
    assert not build_samples(cfg).built


def test_samples_from_a_cube_equal_samples_from_the_geotiffs(scenes, tmp_path):
    """Features read from a Zarr imagery cube give the very windows the GeoTIFFs give."""
    from reefdask.cube import ingest

    cfg = _cfg(tmp_path / "r.zarr", scenes)
    build_samples(cfg)
    cube = str(tmp_path / "cube.zarr")
    assert ingest([s["features"] for s in scenes], cube, chunk=48).ok
    from_cube = [
        {"cube": cube, "scene": f"s{i}", **{k: v for k, v in s.items() if k != "features"}}
        for i, s in enumerate(scenes)
    ]
    ccfg = _cfg(tmp_path / "c.zarr", from_cube)
    report = build_samples(ccfg)
    a, b = open_samples(cfg.store), open_samples(ccfg.store)
    assert report.n_samples == len(a) == len(b) > 0
    for key in ("features", "responses", "weights", "fold", "scene", "row", "col"):
        assert np.array_equal(a.read(key, 0, len(a)), b.read(key, 0, len(b))), key
    assert b.attrs["class_weights"] == a.attrs["class_weights"]
    assert [s["cube_scene"] for s in b.attrs["scenes"]] == ["s0", "s1", "s2"]
    assert not build_samples(ccfg).built  # rebuild with the same config: a no-op

    # the whole cube, labels named <scene>.tif in a folder
    labels = tmp_path / "labels"
    labels.mkdir()
    for i, s in enumerate(scenes):
        (labels / f"s{i}.tif").write_bytes(Path(s["labels"]).read_bytes())
    whole = _cfg(tmp_path / "w.zarr", [], cube=cube, labels_dir=str(labels))
    from reefdask.train.samples import resolve_scenes

    assert [(s.cube, s.scene, Path(s.labels).name) for s in resolve_scenes(whole)] == [
        (cube, f"s{i}", f"s{i}.tif") for i in range(3)
    ]
    assert build_samples(whole).n_samples > 0


def test_cube_labels_on_another_grid_are_refused(scenes, tmp_path):
    from reefdask.cube import ingest
    from reefdask.errors import IncompatibleScenesError

    cube = str(tmp_path / "cube.zarr")
    assert ingest(scenes[0]["features"], cube).ok
    other = make_scene(tmp_path, "shifted", size=96, seed=5)  # 96 x 96, another origin
    cfg = _cfg(tmp_path / "c.zarr", [{"cube": cube, "labels": other["labels"]}])
    with pytest.raises(IncompatibleScenesError) as err:
        build_samples(cfg)
    msg = str(err.value)
    assert other["labels"] in msg and "96x96" in msg and "128x128" in msg and cube in msg
    assert "reefdask clean" in msg
    with pytest.raises(ValueError, match="either `features`"):
        SamplesConfig(store="x.zarr", scenes=[{"features": "a.tif", "cube": cube, "labels": "b.tif"}])


def test_build_on_a_client_equals_threads_and_names_its_tasks(scenes, tmp_path):
    from distributed import Client

    cfg, other = _cfg(tmp_path / "t.zarr", scenes), _cfg(tmp_path / "c.zarr", scenes)
    build_samples(cfg)
    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        build_samples(other, client=client)
        prefixes = set(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes)))
    # the dashboard's task stream reads as the stage's steps
    assert {"samples-stats", "samples-write", "samples-weights"} <= prefixes
    a, b = open_samples(cfg.store), open_samples(other.store)
    assert len(a) == len(b) > 0
    for name in ("features", "responses", "weights", "row", "col", "fold"):
        np.testing.assert_array_equal(a.read(name, 0, len(a)), b.read(name, 0, len(b)))


def test_completion_is_a_work_record_and_old_stores_still_open(scenes, tmp_path):
    import json
    import shutil

    import zarr

    from reefdask.errors import StoreError
    from reefdask.train.store import samples_work

    cfg = _cfg(str(tmp_path / "s.zarr"), scenes)
    rep = build_samples(cfg)
    store = Path(cfg.store)
    done = json.loads((store / "_work" / "samples.done.json").read_bytes())
    assert done["status"] == "done" and done["info"]["n_samples"] == rep.n_samples
    assert "complete" not in open_samples(cfg.store).attrs  # the record is the only completion mark
    assert not list((store / "_work" / "_claims").iterdir())  # the build's claim is gone

    # a build that died before its record: unfinished, refused, rebuilt by the next run
    (store / "_work" / "samples.done.json").unlink()
    with pytest.raises(StoreError, match="unfinished"):
        open_samples(cfg.store)
    assert build_samples(cfg).built

    # a store built before the work layer: attrs["complete"] and no records
    shutil.rmtree(store / "_work")
    zarr.open_group(str(store), mode="r+").attrs["complete"] = True
    assert len(open_samples(cfg.store)) == rep.n_samples
    assert not build_samples(cfg).built  # same configuration: still a no-op

    # another live build holds the store: refused at once, nothing touched
    claim = samples_work(cfg.store).claim("samples", overwrite=False)
    try:
        with pytest.raises(StoreError, match="being built by"):
            build_samples(_cfg(cfg.store, scenes, max_samples=30, rebuild=True))
    finally:
        claim.release()
    assert len(open_samples(cfg.store)) == rep.n_samples


def test_sample_writer_does_not_import_samples():
    """The samples <-> sample_writer import cycle is gone: the writer stands alone."""
    import subprocess
    import sys

    code = "import sys, reefdask.train.sample_writer; print('reefdask.train.samples' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
