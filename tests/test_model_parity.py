"""Train/serve parity: the same quad gives the same model inputs, and the same probabilities, everywhere.

One synthetic quad (``reefdask.synthetic``) is written at twice the run's resolution as
a real GeoTIFF in four variants: RGB + alpha (no nodata value), RGB + alpha with a
nodata value, plain RGB with nodata 0, and float32 with NaN nodata. Each variant holds
2x2 blocks whose mean is exactly half-way (2.5) and blocks whose valid mean rounds to
the nodata value (a collision). Then:

* training: ``reefdask clean`` (downsample x2) -> ``build_samples`` (training windows,
  :mod:`reefdask.train.windows`) -> the ``tf.data`` pipeline (:mod:`reefdask.train.dataset`,
  TensorFlow ops) and its NumPy twin ``load_piece``;
* predict: ``open_imagery`` -> ``downsample_lazy`` -> :class:`Preprocessing` (the
  ``predict/preprocess.py`` path the chunk tasks run);
* the global map: ``read_tile`` (its own reader and downsampling) -> the member's
  :class:`Preprocessing`.

Every window's model input must be identical (bit for bit) on the three paths; then
``predict`` and the global map must give identical probabilities for the same model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp

from reefdask.core.grid import Quad

pytestmark = pytest.mark.tf

S = 64  # run resolution (px per quad side); the sources are 2 S
SCALER = {"kind": "standard", "center": [60.0, 70.0, 80.0], "scale": [20.0, 25.0, 30.0]}
VARIANTS = ("alpha", "alpha_nodata", "nodata0", "float_nan")


def _special_blocks(rgb: np.ndarray, valid: np.ndarray) -> None:
    """Write half-way blocks (mean 2.5) and nodata collisions (valid mean 1/3 -> 0) into the top rows."""
    for k in range(0, 2 * S, 8):
        rgb[:, 0:2, k : k + 2] = [[2, 3], [3, 2]]  # half-way: 2.5 in every band
        valid[0:2, k : k + 2] = True
        blk = np.zeros((3, 2, 2), rgb.dtype)  # (1,0,0), (0,1,0), (0,0,1) and one nodata pixel
        blk[0, 0, 0] = blk[1, 0, 1] = blk[2, 1, 0] = 1
        rgb[:, 2:4, k : k + 2] = blk
        valid[2:4, k : k + 2] = True
        valid[3, k + 1] = False


def _write(path: Path, variant: str, rgb: np.ndarray, valid: np.ndarray, profile: dict) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    prof = {k: profile[k] for k in ("driver", "width", "height", "crs", "transform")}
    if variant == "float_nan":
        data = np.where(valid[None], rgb.astype("float32") * 1.5, np.nan).astype("float32")
        with rasterio.open(path, "w", count=3, dtype="float32", nodata=float("nan"), **prof) as ds:
            ds.write(data)
        return str(path)
    if variant == "nodata0":
        data = np.where(valid[None], rgb, 0).astype("uint8")
        with rasterio.open(path, "w", count=3, dtype="uint8", nodata=0, **prof) as ds:
            ds.write(data)
        return str(path)
    alpha = np.where(valid, 255, 0).astype("uint8")[None]
    extra = {"nodata": 0} if variant == "alpha_nodata" else {}
    prof.update(count=4, dtype="uint8", photometric="RGB", alpha="YES", **extra)
    with rasterio.open(path, "w", **prof) as ds:
        ds.write(np.concatenate([rgb, alpha]))
    with rasterio.open(path) as ds:  # the providers' layout: band 4 tagged ALPHA
        assert ds.colorinterp[3] == ColorInterp.alpha
    return str(path)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The synthetic quad at 2 S px: its RGB, validity and profile."""
    from reefdask.synthetic import synth_quads

    root = tmp_path_factory.mktemp("synth")
    (q,) = synth_quads(root, quads=1, size=2 * S, seed=3)
    with rasterio.open(q.image) as ds:
        data, profile = ds.read(), dict(ds.profile)
    rgb, valid = data[:3].copy(), data[3] != 0
    rgb[:, (rgb == 0).all(axis=0) & valid] = 1  # the synthetic imagery's own black pixels: valid
    _special_blocks(rgb, valid)
    valid[40:56, 30:70] = False  # a nodata patch across windows
    return q.quad, rgb, valid, profile


def _labels(path: Path, quad: Quad) -> str:
    lab = np.full((S, S), 3, "int16")
    lab[:, S // 2 :] = 5
    with rasterio.open(
        path, "w", driver="GTiff", width=S, height=S, count=1, dtype="int16", nodata=-9999,
        crs="EPSG:3857", transform=quad.transform(size=S),
    ) as ds:  # fmt: skip
        ds.write(lab, 1)
    return str(path)


def _training_inputs(root: Path, fine: str, quad: Quad) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols) of every training window and its inputs from the TF pipeline and from load_piece."""
    from reefdask.clean.imagery import clean_imagery
    from reefdask.model.scaler import Scaler
    from reefdask.train.config import SamplesConfig
    from reefdask.train.dataset import load_piece, make_dataset, pieces
    from reefdask.train.samples import build_samples
    from reefdask.train.store import open_samples

    clean = root / "clean.tif"
    clean_imagery([fine], clean, factor=2)
    cfg = SamplesConfig(
        store=str(root / "s.zarr"),
        scenes=[{"features": str(clean), "labels": _labels(root / "labels.tif", quad)}],
        window_radius=8,
        loss_window_radius=4,
        stride=8,
        n_folds=2,
        fold_block=16,
        max_feature_nodata=1.0,
        max_response_nodata=1.0,
        max_samples=1000,
        chunk_samples=8,
    )
    build_samples(cfg)
    store, scaler = open_samples(cfg.store), Scaler.from_dict(SCALER)
    idx, tf_x, np_x = [], [], []
    for split in ("train", "validation"):
        ds = make_dataset(store, split, scaler, batch_size=16, deterministic=True)
        tf_x += [np.asarray(x) for x, _ in ds]
        np_x += [load_piece(store, scaler, int(a), int(b))[0] for a, b in pieces(store, split)]
        idx.append(store.indices(split))
    ids = np.concatenate(idx)
    pos = np.stack([store.read("row", 0, len(store)), store.read("col", 0, len(store))], -1)[ids]
    return pos, np.concatenate(tf_x), np.concatenate(np_x)


def _global_tile(root: Path, fine: str, quad: Quad, model: str, halo: int | None = None):
    from reefdask.config import load_config
    from reefdask.globalmap.config import GlobalConfig
    from reefdask.globalmap.plan import open_run
    from reefdask.globalmap.quad import read_tile

    cfg = {"run": str(root / "run"), "models": [model], "inventory": str(Path(fine).parent), "quad_size": S}
    if halo is not None:
        cfg["halo"] = halo
    plan = open_run(load_config(cfg, GlobalConfig))
    raw, nodata = read_tile(plan.tasks[quad.id], plan.spec)
    return plan, raw, nodata


def _model(root: Path, window: int | None = None) -> str:
    from reefdask.model.card import ModelCard
    from reefdask.testing.models import fixed_window, tiny_fcn

    path = str(root / ("fcn.keras" if window is None else f"win{window}.keras"))
    m = tiny_fcn(None, classes=4, n_conv=2, seed=1)
    if window:
        fixed_window(m, window, path)
    else:
        m.save(path)
    card = ModelCard(bands=[1, 2, 3], scaler=SCALER, class_codes=[1, 2, 3, 4], receptive_field=2, halo=2)
    card.save(path)
    return path


@pytest.mark.parametrize("variant", VARIANTS)
def test_model_inputs_and_probabilities_are_identical_on_every_path(tmp_path, source, variant):
    from reefdask.clean.imagery import downsample_lazy
    from reefdask.core.nodata import get_nodata
    from reefdask.globalmap.quad import predict_quad
    from reefdask.io import open_imagery
    from reefdask.predict import plan_prediction, predict
    from reefdask.predict.preprocess import Preprocessing

    quad, rgb, valid, profile = source
    fine = _write(tmp_path / "imagery" / "belize" / f"{quad.id}.tif", variant, rgb, valid, profile)
    pos, tf_x, np_x = _training_inputs(tmp_path, fine, quad)
    assert len(pos) > 10

    # predict's path: the lazily downsampled imagery, then the card's preprocessing
    da = downsample_lazy(open_imagery(fine, chunks=48), 2)
    pre = Preprocessing(bands=(1, 2, 3), scaler=SCALER)
    pred_x, pred_valid = pre.apply(da.values, get_nodata(da))
    # the global map's path: its own reader and downsampling, the member's preprocessing
    model = _model(tmp_path)
    plan, raw, nodata = _global_tile(tmp_path, fine, quad, model)
    member = plan.spec.members[0]
    h = plan.spec.halo
    glob_x, _ = Preprocessing.from_dict(member.preprocessing).apply(raw[:, h : h + S, h : h + S], nodata)

    np.testing.assert_array_equal(glob_x, pred_x)
    assert np.isfinite(pred_x).all()  # NaN nodata never reaches the network
    assert pred_valid.sum() < S * S  # nodata patches are in the test
    windows = np.stack([pred_x[r : r + 16, c : c + 16] for r, c in pos])
    np.testing.assert_array_equal(np_x, windows)
    np.testing.assert_array_equal(tf_x, windows)
    if variant != "float_nan":  # the half-way means came out 3 (half up) and collisions stayed valid
        small = da.values
        assert (small[:, 0, ::4] == 3).all()
        assert pred_valid[1, ::4].all() and (small[:, 1, ::4].max(axis=0) > 0).all()

    # the same model: predict and the global map give the same probabilities and fingerprint
    pplan = plan_prediction(da, model, str(tmp_path / "p.zarr"), chunk=S, output_dtype="float32")
    assert (pplan.halo, pplan.fingerprint) == (member.halo, member.fingerprint)
    predict(da, model, str(tmp_path / "p.zarr"), chunk=S, output_dtype="float32")
    import xarray as xr

    got = xr.open_zarr(tmp_path / "p.zarr")["probabilities"].values  # (class, y, x)
    probs, gvalid = predict_quad(raw, nodata, plan.spec)
    np.testing.assert_array_equal(gvalid, pred_valid)
    np.testing.assert_array_equal(np.moveaxis(probs, -1, 0)[:, gvalid], got[:, gvalid])


def test_fixed_window_models_take_the_configured_halo_in_the_global_map(tmp_path, source):
    """Regression: the global map ignored ``halo`` for fixed-window models where predict honours it."""
    from reefdask.clean.imagery import downsample_lazy
    from reefdask.io import open_imagery
    from reefdask.predict import plan_prediction

    quad, rgb, valid, profile = source
    fine = _write(tmp_path / "imagery" / "belize" / f"{quad.id}.tif", "alpha", rgb, valid, profile)
    model = _model(tmp_path, window=32)
    da = downsample_lazy(open_imagery(fine, chunks=48), 2)
    pplan = plan_prediction(da, model, str(tmp_path / "p.zarr"), chunk=S, halo=12)
    plan, _, _ = _global_tile(tmp_path, fine, quad, model, halo=12)
    m = plan.spec.members[0]
    assert (m.strategy, m.halo, m.window, m.step) == ("centre", 12, 32, 8)
    assert (pplan.strategy, pplan.halo, pplan.window, pplan.step) == (m.strategy, m.halo, m.window, m.step)
