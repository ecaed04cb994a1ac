"""Training: a SIGKILLed fit resumes with a continuous history; card, report, refusals, streaming."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_train_samples import make_scene

from reefdask.errors import ConfigError
from reefdask.train.config import SamplesConfig, TrainConfig
from reefdask.train.samples import build_samples

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("fit")
    scenes = [make_scene(d, f"s{i}", size=160, seed=i) for i in range(3)]
    cfg = SamplesConfig(
        store=str(d / "s.zarr"),
        scenes=scenes,
        window_radius=16,
        loss_window_radius=8,
        stride=8,
        n_folds=4,
        validation_fold=0,
        test_fold=3,
        fold_block=48,
        max_samples=400,
        chunk_samples=16,
    )
    build_samples(cfg)
    return cfg.store


def _train_cfg(store, outdir, **kw):
    base = dict(
        samples=store,
        outdir=str(outdir),
        name="tiny",
        epochs=4,
        batch_size=8,
        steps_per_epoch=8,
        architecture={"name": "unet", "filters": 4, "blocks": [1, 1]},
        patience=50,
        seed=1,
    )
    return {**base, **kw}


def _history(outdir: Path) -> list[dict]:
    p = outdir / "history.json"
    return json.loads(p.read_text()) if p.exists() else []


@pytest.mark.slow
def test_sigkill_mid_run_resumes_with_continuous_history(store, tmp_path):
    out = tmp_path / "run"
    cfg_path = tmp_path / "train.yaml"
    cfg_path.write_text(yaml.safe_dump(_train_cfg(store, out)))
    cmd = [sys.executable, "-m", "reefdask.cli", "train", str(cfg_path)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while len(_history(out)) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _history(out)
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read().decode()[-2000:]
    assert 1 <= len(before) < 4 and not (out / "tiny.keras").exists()
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == len(before) - 1
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"resumed from epoch {len(before)}" in done.stdout
    after = _history(out)
    assert [r["epoch"] for r in after] == list(range(4))
    assert after[: len(before)] == before  # the killed run's epochs are kept, not redone
    assert (out / "tiny.keras").exists() and (out / "tiny.card.json").exists()
    # a finished run is skipped; a changed config is refused with the differences
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert "already finished" in again.stdout
    from reefdask.train.fit import train

    with pytest.raises(ConfigError, match=r"learning_rate: 0.001 -> 0.01"):
        train(TrainConfig(**_train_cfg(store, out, learning_rate=0.01)))


@pytest.mark.slow
def test_card_logistic_decision_and_inference_loading(store, tmp_path):
    import keras

    from reefdask.model.card import ModelCard, card_url
    from reefdask.train.fit import train

    r = train(
        TrainConfig(
            **_train_cfg(
                store,
                tmp_path / "m",
                epochs=1,
                steps_per_epoch=3,
                reef_decision="logistic",
                tensorboard=False,
                architecture={"name": "res_unet", "filters": 4, "blocks": [1, 1, 1]},
            )
        )
    )
    card = ModelCard.load(card_url(r.model))
    assert card.nodata_encoding == -10.0 and len(card.scaler["center"]) == 3 and card.stride == 4
    assert {"val_macro_f1", "test_macro_f1", "val_loss", "reef_f1"} <= set(card.metrics)
    assert {"reefdask", "tensorflow", "keras"} <= set(card.versions)
    extra = card.model_extra
    assert extra["reef_decision"]["kind"] == "logistic" and len(extra["reef_decision"]["coef"]) == 14
    assert extra["reef_decision"]["evaluated_on"].startswith("test")  # not the fold it was fitted on
    assert len(extra["class_metrics"]["val"]["confusion"]) == 14 and extra["config"]["epochs"] == 1
    model = keras.models.load_model(r.model, compile=False)  # no custom objects needed for inference
    for side in (24, 40):
        assert model.predict(np.zeros((1, side, side, 3), "float32"), verbose=0).shape == (1, side, side, 14)


@pytest.mark.tf
def test_same_seed_same_model(store, tmp_path):
    import keras

    from reefdask.train.fit import train

    models = []
    for name in ("a", "b"):
        kw = dict(epochs=2, steps_per_epoch=3, tensorboard=False, reef_decision="none")
        r = train(TrainConfig(**_train_cfg(store, tmp_path / name, **kw)))
        models.append(keras.models.load_model(r.model, compile=False).get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*models, strict=True))


@pytest.mark.tf
def test_quantile_scaler_travels_in_the_card_and_predict_applies_it(store, tmp_path):
    import keras

    from reefdask.model.card import ModelCard, card_url
    from reefdask.predict import predict
    from reefdask.testing.models import as_imagery, scene_array
    from reefdask.train.fit import train
    from reefdask.train.scalers import Scaler

    cfg = _train_cfg(store, tmp_path / "q", scaler="quantile", epochs=1, steps_per_epoch=2, tensorboard=False)
    r = train(TrainConfig(**cfg))
    card = ModelCard.load(card_url(r.model))
    assert card.scaler["kind"] == "quantile" and len(card.scaler["values"]) == 3
    img = scene_array(40, 48, seed=3, nodata_box=(0, 8, 0, 8))
    out = predict(as_imagery(img), r.model, str(tmp_path / "pred.zarr"), chunk=16, output_dtype="float32")
    # the same scaler object training used, then the model once on the whole scene
    x = Scaler.from_dict(card.scaler).transform(np.moveaxis(img, 0, -1))
    x[(img == 0).all(axis=0)] = -10
    pad = card.halo
    x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)), constant_values=-10)
    h = -(-x.shape[0] // card.stride) * card.stride
    w = -(-x.shape[1] // card.stride) * card.stride
    x = np.pad(x, ((0, h - x.shape[0]), (0, w - x.shape[1]), (0, 0)), constant_values=-10)
    model = keras.models.load_model(r.model, compile=False)
    whole = model.predict(x[None], verbose=0)[0, pad : pad + 40, pad : pad + 48]
    got = np.moveaxis(out["probabilities"].values, 0, -1)
    valid = ~(img == 0).all(axis=0)
    assert np.isnan(got[~valid]).all()
    assert np.allclose(got[valid], whole[valid], atol=1e-4)


def test_streaming_dataset_reads_every_sample_once(store):
    from reefdask.train.dataset import load_piece, make_dataset
    from reefdask.train.scalers import Scaler
    from reefdask.train.store import open_samples

    s = open_samples(store)
    sc = Scaler("standard", {"center": [100.0, 100.0, 100.0], "scale": [50.0, 50.0, 50.0]})
    batches = [(x.numpy(), y.numpy()) for x, y in make_dataset(s, "validation", sc, batch_size=5)]
    a, b = s.ranges("validation")[0]
    assert sum(len(y) for _, y in batches) == b - a
    x0, y0 = load_piece(s, sc, a, b)  # NumPy scaling and the stored weights
    assert np.array_equal(np.concatenate([y for _, y in batches]), y0)
    assert np.allclose(np.concatenate([x for x, _ in batches]), x0, atol=1e-5)
    assert x0.dtype == np.float32 and ((x0 == -10) | (np.abs(x0) < 10)).all()
    shuffled = [len(x) for x, _ in make_dataset(s, "train", sc, batch_size=4, shuffle=True).take(3)]
    assert shuffled == [4, 4, 4]


def test_augmentation_moves_weights_with_pixels():
    import tensorflow as tf

    from reefdask.train.augment import make_augment
    from reefdask.train.config import AugmentConfig

    tf.random.set_seed(0)
    x = np.random.default_rng(0).normal(size=(16, 16, 3)).astype("float32")
    x[:2] = -10.0  # nodata rows
    y = np.stack([np.arange(256).reshape(16, 16) % 7, np.arange(256).reshape(16, 16) / 256], -1).astype(
        "float32"
    )
    geo = make_augment(AugmentConfig(brightness=0, contrast=0, color_shift=0, noise=0, blur_probability=0), 3)
    full = make_augment(AugmentConfig(blur_probability=1.0), 3)
    for _ in range(6):
        xa, ya = (t.numpy() for t in geo(tf.constant(x), tf.constant(y)))
        # the same permutation of pixels moved features, classes and weights together
        order = np.argsort(ya[..., 1].ravel())
        assert np.array_equal(ya[..., 0].ravel()[order], y[..., 0].ravel())
        assert np.array_equal(xa.reshape(-1, 3)[order], x.reshape(-1, 3))
        xf, yf = (t.numpy() for t in full(tf.constant(x), tf.constant(y)))
        nodata = np.sort(yf[..., 1].ravel())[:32]
        assert (xf.reshape(-1, 3)[np.argsort(yf[..., 1].ravel())[:32]] == -10).all() and len(nodata) == 32


@pytest.mark.slow
def test_sweep_trains_each_point_once_and_ranks_them(store, tmp_path):
    import csv

    from reefdask.train.config import SweepConfig
    from reefdask.train.sweep import run_sweep

    cfg = SweepConfig(
        samples=store,
        outdir=str(tmp_path / "sweep"),
        base={
            "epochs": 1,
            "steps_per_epoch": 2,
            "batch_size": 8,
            "tensorboard": False,
            "reef_decision": "none",
            "architecture": {"name": "flat_net", "blocks": [1, 1]},
        },
        grid={"architecture.filters": [2, 4]},
    )
    first = run_sweep(cfg)
    assert [r["skipped"] for r in first.rows] == [False, False]
    assert sorted(r["name"] for r in first.rows) == ["filters2", "filters4"]
    f1 = [r["val_macro_f1"] for r in first.rows]
    assert f1 == sorted(f1, reverse=True)
    with open(first.table_csv) as f:
        assert len(list(csv.DictReader(f))) == 2
    assert "| name |" in Path(first.table_md).read_text() and Path(first.figure).stat().st_size > 0
    again = run_sweep(cfg)
    assert all(r["skipped"] for r in again.rows)
    assert [r["val_macro_f1"] for r in again.rows] == f1
