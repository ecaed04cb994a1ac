from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from reefdask.core.classes import default_schema
from reefdask.core.grid import Quad
from reefdask.core.nodata import LABEL_NODATA
from reefdask.errors import ConfigError, ReefdaskError
from reefdask.synthetic import (
    DEFAULT_ORIGIN,
    KINDS,
    SyntheticQuad,
    default_quads,
    synth_block,
    synth_quads,
    synth_scene,
    write_corrupt_quad,
)
from reefdask.synthetic.noise import fbm, seed_key

ORIGIN = Quad.parse(DEFAULT_ORIGIN)


def test_scene_arrays_are_consistent():
    rgba, labels = synth_scene(ORIGIN, size=96, seed=3)
    assert rgba.shape == (4, 96, 96) and rgba.dtype == np.uint8
    assert labels.shape == (96, 96) and labels.dtype == np.int16
    codes = set(default_schema().codes) | {LABEL_NODATA}
    assert set(np.unique(labels).tolist()) <= codes
    assert set(np.unique(rgba[3]).tolist()) <= {0, 255}
    nodata = rgba[3] == 0
    assert ((labels == LABEL_NODATA) == nodata).all()  # labels are nodata exactly where imagery is
    assert (rgba[:3, nodata] == 0).all()


def test_deterministic_in_seed():
    a = synth_scene(ORIGIN, size=64, seed=11)
    b = synth_scene(ORIGIN, size=64, seed=11)
    c = synth_scene(ORIGIN, size=64, seed=12)
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    assert (a[0] != c[0]).mean() > 0.5 and (a[1] != c[1]).any()


def test_same_seed_same_bytes_on_disk(tmp_path):
    first = synth_quads(tmp_path / "a", quads=2, seed=5, size=64)
    again = synth_quads(tmp_path / "b", quads=2, seed=5, size=64)
    other = synth_quads(tmp_path / "c", quads=2, seed=6, size=64)
    for f, g, h in zip(first, again, other, strict=True):
        assert Path(f.image).read_bytes() == Path(g.image).read_bytes()
        assert Path(f.label).read_bytes() == Path(g.label).read_bytes()
        assert Path(f.image).read_bytes() != Path(h.image).read_bytes()


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    size=st.sampled_from([16, 24, 40]),
    dx=st.integers(-300, 300),
    dy=st.integers(-300, 300),
)
def test_block_equals_quads_rendered_apart(seed, size, dx, dy):
    origin = ORIGIN.offset(dx, dy)
    rgba, labels = synth_block(origin, cols=3, rows=2, size=size, seed=seed)
    for r in range(2):
        for c in range(3):
            qa, ql = synth_scene(origin.offset(c, -r), size=size, seed=seed)
            window = np.s_[r * size : (r + 1) * size, c * size : (c + 1) * size]
            np.testing.assert_array_equal(qa, rgba[(slice(None), *window)])
            np.testing.assert_array_equal(ql, labels[window])


def test_shared_edges_continue_smoothly():
    west, _ = synth_scene(ORIGIN, size=128, seed=2)
    east, _ = synth_scene(ORIGIN.offset(1, 0), size=128, seed=2)
    rgb_w, rgb_e = west[:3].astype(float), east[:3].astype(float)
    valid = (west[3, :, -1] > 0) & (east[3, :, 0] > 0)
    across = np.abs(rgb_e[:, valid, 0] - rgb_w[:, valid, -1]).mean()
    inside = np.abs(np.diff(rgb_w[:, :, -8:], axis=2)).mean()
    assert across < 1.5 * inside  # the step across the seam is an ordinary neighbour step


def test_noise_is_a_function_of_world_coordinates():
    key = seed_key(4, 1)
    xs = np.arange(-50, 70) * 37.5
    ys = np.arange(40, -30, -1) * 37.5
    whole = fbm(xs, ys, (900, 300, 100), key)
    np.testing.assert_array_equal(fbm(xs[17:], ys[9:40], (900, 300, 100), key), whole[9:40, 17:])


def test_geotiff_profile_and_tags(tmp_path):
    made = synth_quads(tmp_path, quads=2, seed=1, size=64, region="lighthouse")
    assert [m.quad for m in made] == default_quads(2)
    for m in made:
        assert isinstance(m, SyntheticQuad) and m.kind == "auto"
        assert m.image == str(tmp_path / "imagery" / "lighthouse" / f"{m.quad.id}.tif")
        assert m.label == str(tmp_path / "labels" / "lighthouse" / f"{m.quad.id}.tif")
        rgba, labels = synth_scene(m.quad, size=64, seed=1)
        with rasterio.open(m.image) as src:
            assert src.crs.to_epsg() == 3857
            assert src.transform == m.quad.transform(size=64)
            assert (src.count, src.dtypes[0], src.width, src.height) == (4, "uint8", 64, 64)
            assert src.colorinterp[3] == rasterio.enums.ColorInterp.alpha
            assert src.profile["tiled"] and src.profile["compress"] == "deflate"
            tags = src.tags()
            assert tags["REEFDASK_SYNTHETIC"] == "1" and "SYNTHETIC" in tags["TIFFTAG_IMAGEDESCRIPTION"]
            np.testing.assert_array_equal(src.read(), rgba)
        with rasterio.open(m.label) as src:
            assert src.crs.to_epsg() == 3857 and src.transform == m.quad.transform(size=64)
            assert (src.count, src.dtypes[0], src.nodata) == (1, "int16", LABEL_NODATA)
            assert src.tags()["REEFDASK_SYNTHETIC"] == "1"
            assert src.tags()["REEFDASK_CLASS_FINGERPRINT"] == default_schema().fingerprint
            np.testing.assert_array_equal(src.read(1), labels)
    assert not list(tmp_path.rglob("*.partial"))


def test_default_set_has_every_group():
    schema = default_schema()
    labels = np.stack([synth_scene(q, size=96, seed=0)[1] for q in default_quads(4)])
    assert set(np.unique(schema.remap(labels, "coarse")).tolist()) - {255} == {1, 2, 3, 4, 5}
    assert set(np.unique(schema.remap(labels, "reef")).tolist()) == {0, 1, 255}
    assert (labels == LABEL_NODATA).mean() < 0.15


def test_forced_kinds(tmp_path):
    rgba, labels = synth_scene(ORIGIN, size=48, seed=0, kind="no_reef")
    assert (labels == 3).all() and (rgba[3] == 255).all()
    rgba, labels = synth_scene(ORIGIN, size=48, seed=0, kind="land")
    assert (labels == 1).all() and (rgba[3] == 255).all()
    made = synth_quads(tmp_path, quads=2, size=32, kinds={default_quads(2)[1].id: "no_reef"})
    assert [m.kind for m in made] == ["auto", "no_reef"]
    with rasterio.open(made[1].label) as src:
        assert (src.read(1) == 3).all() and src.tags()["REEFDASK_KIND"] == "no_reef"
    assert KINDS == ("auto", "no_reef", "land")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "reefy"}, "kind 'reefy' is unknown"),
        ({"size": 4}, "size 4 must be an integer >= 8"),
        ({"size": 2.5}, "must be an integer"),
    ],
)
def test_bad_arguments_raise_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        synth_scene(ORIGIN, **kwargs)


def test_bad_quad_lists():
    with pytest.raises(ReefdaskError, match="not a quad id"):
        synth_quads("unused", quads=["L15-12E-3N"])
    with pytest.raises(ConfigError, match="at least 1"):
        default_quads(0)
    with pytest.raises(ConfigError, match="leaves the grid"):
        synth_block(Quad(2047, 5), cols=2)


def _local_stats(bands, width):
    from scipy.ndimage import uniform_filter

    mean = np.stack([uniform_filter(b, width) for b in bands])
    sq = np.stack([uniform_filter(b * b, width) for b in bands])
    return [mean, np.sqrt(np.maximum(sq - mean * mean, 0))]


@pytest.mark.slow
def test_colour_alone_is_not_enough_but_learnable():
    from sklearn.tree import DecisionTreeClassifier

    schema = default_schema()
    rgba, labels = synth_block(ORIGIN, cols=2, rows=2, size=160, seed=0)
    reef = schema.remap(labels, "reef")
    ok = reef != 255  # valid, cloud-free pixels
    rgb = rgba[:3].astype(float)
    context = np.concatenate([rgb, *_local_stats(rgb, 5), *_local_stats(rgb, 15)])
    y = reef[ok]
    order = np.random.default_rng(0).permutation(y.size)
    train, test = order[:20000], order[20000:60000]
    scores = []
    for feats in (rgb, context):
        x = feats[:, ok].T
        tree = DecisionTreeClassifier(max_depth=10, min_samples_leaf=20, random_state=0).fit(
            x[train], y[train]
        )
        scores.append((tree.predict(x[test]) == y[test]).mean())
    chance = max(y.mean(), 1 - y.mean())
    rgb_only, with_context = scores
    assert chance + 0.1 < rgb_only < 0.95  # colour tells a lot, but not everything
    assert with_context > rgb_only  # texture and context add what colour cannot


def test_corrupt_quad_opens_but_does_not_read(tmp_path):
    path = write_corrupt_quad(tmp_path / "belize" / "L15-0525E-1123N.tif", size=64)
    with rasterio.open(path) as src:
        assert src.count == 4 and src.crs.to_epsg() == 3857
        assert src.tags()["REEFDASK_SYNTHETIC"] == "1"
        with pytest.raises(rasterio.errors.RasterioIOError):
            src.read()


def test_cli_synth(tmp_path):
    from reefdask.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["synth", str(tmp_path), "--quads", "3", "--seed", "4", "--size", "32"])
    assert result.exit_code == 0, result.output
    images = sorted((tmp_path / "imagery" / "belize").glob("L15-*E-*N.tif"))
    labels = sorted((tmp_path / "labels" / "belize").glob("L15-*E-*N.tif"))
    assert [p.name for p in images] == [p.name for p in labels] and len(images) == 3
    assert "SYNTHETIC" in result.output
    with rasterio.open(images[0]) as src:
        assert src.width == 32 and src.tags()["REEFDASK_SEED"] == "4"
    bad = runner.invoke(app, ["synth", str(tmp_path), "--kind", "mud"])
    assert isinstance(bad.exception, ConfigError)


def test_synth_quads_to_memory_url():
    import fsspec

    made = synth_quads("memory://synth-test/run", quads=2, size=32, seed=9)
    assert made[0].image == f"memory://synth-test/run/imagery/belize/{made[0].quad.id}.tif"
    rgba, labels = synth_scene(made[0].quad, size=32, seed=9)
    with fsspec.open(made[0].image, "rb") as f, rasterio.open(f) as src:
        np.testing.assert_array_equal(src.read(), rgba)
    with fsspec.open(made[0].label, "rb") as f, rasterio.open(f) as src:
        np.testing.assert_array_equal(src.read(1), labels)


@pytest.mark.gcs
def test_synth_quads_to_gcs_bucket(gcs_bucket):
    from reefdask.io.storage import filesystem

    made = synth_quads(f"{gcs_bucket}/mosaic", quads=1, size=32, seed=1, region="global")
    fs, _ = filesystem(gcs_bucket)
    found = sorted(fs.find(gcs_bucket.removeprefix("gs://")))
    assert [p.split("/mosaic/")[1] for p in found] == [
        f"imagery/global/{made[0].quad.id}.tif",
        f"labels/global/{made[0].quad.id}.tif",
    ]
    assert fs.cat(made[0].image)[:4] in (b"II*\x00", b"MM\x00*")


def test_row_strips_do_not_show():
    # 200-px quads stacked: the block's internal row strips fall elsewhere than the quads'
    rgba, labels = synth_block(ORIGIN, cols=1, rows=2, size=200, seed=8)
    for r in range(2):
        qa, ql = synth_scene(ORIGIN.offset(0, -r), size=200, seed=8)
        np.testing.assert_array_equal(qa, rgba[:, r * 200 : (r + 1) * 200])
        np.testing.assert_array_equal(ql, labels[r * 200 : (r + 1) * 200])
