"""End to end on synthetic quads: samples -> a small U-Net -> reef F1 on a held-out quad beats colour.

The baseline is the best single colour threshold (on R, G, B, brightness, G-B or R-B, either
direction) chosen by reef F1 on the *training* quads; the model's reef decision is the
threshold from its card (fitted on the validation fold). Both are scored on a quad that
no sample was drawn from.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from reefdask.core.classes import default_schema
from reefdask.train.reef_decision import apply_decision, f1_score

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def _read(q):
    with rasterio.open(q.image) as ds:
        rgba = ds.read()
    with rasterio.open(q.label) as ds:
        lab = ds.read(1)
    return rgba, lab


def _colours(rgb):
    r, g, b = rgb.astype("float64")
    return {"r": r, "g": g, "b": b, "bright": r + g + b, "g-b": g - b, "r-b": r - b}


def _colour_baseline(train, held, schema):
    best = (-1.0, None)
    for name in _colours(np.zeros((3, 1, 1))):
        vals, truth = [], []
        for rgba, lab in train:
            reef = schema.remap(lab, "reef")
            ok = (rgba[3] > 0) & (reef != 255)
            vals.append(_colours(rgba[:3])[name][ok])
            truth.append(reef[ok] == 1)
        v, t = np.concatenate(vals), np.concatenate(truth)
        for th in np.quantile(v, np.linspace(0.02, 0.98, 49)):
            for sign in (1, -1):
                f = f1_score(sign * v > sign * th, t)
                if f > best[0]:
                    best = (f, (name, th, sign))
    name, th, sign = best[1]
    rgba, lab = held
    return sign * _colours(rgba[:3])[name] > sign * th


def test_small_unet_beats_a_colour_threshold_on_a_held_out_quad(tmp_path):
    import keras

    from reefdask.model.card import ModelCard
    from reefdask.synthetic import synth_quads
    from reefdask.train.config import SamplesConfig, TrainConfig
    from reefdask.train.fit import train
    from reefdask.train.samples import build_samples
    from reefdask.train.scalers import Scaler

    schema = default_schema()
    quads = synth_quads(tmp_path / "scenes", quads=4, size=384, seed=3)
    train_quads, held_quad = quads[:3], quads[3]
    scfg = SamplesConfig(
        store=str(tmp_path / "samples.zarr"),
        scenes=[{"features": q.image, "labels": q.label} for q in train_quads],
        window_radius=32,
        loss_window_radius=16,
        stride=16,
        max_samples=400,
        n_folds=4,
        validation_fold=0,
        fold_block=128,
        chunk_samples=32,
        balance={"mode": "oversample", "power": 0.5},
    )
    built = build_samples(scfg)
    assert built.n_samples > 100
    r = train(
        TrainConfig(
            samples=scfg.store,
            outdir=str(tmp_path / "model"),
            name="unet",
            architecture={"name": "unet", "filters": 8, "blocks": [2, 2, 2], "growth": 2},
            epochs=10,
            steps_per_epoch=20,
            batch_size=16,
            learning_rate=1e-2,
            augment={"blur_probability": 0.0, "noise": 0.01},
        )
    )
    card = ModelCard.load(r.card)
    model = keras.models.load_model(r.model, compile=False)
    rgba, lab = _read(held_quad)
    valid = rgba[3] > 0
    x = Scaler.from_dict(card.scaler).transform(np.moveaxis(rgba[:3], 0, -1), valid)
    probs = model.predict(x[None], verbose=0)[0]  # the whole quad at once: fully convolutional
    reef = schema.remap(lab, "reef")
    ok = valid & (reef != 255)
    f1_model = f1_score(apply_decision(card.model_extra["reef_decision"], probs, schema)[ok], reef[ok] == 1)
    baseline = _colour_baseline([_read(q) for q in train_quads], (rgba, lab), schema)
    f1_base = f1_score(baseline[ok], reef[ok] == 1)
    print(
        json.dumps(
            {
                "held_out_reef_f1_model": round(f1_model, 4),
                "colour_threshold_f1": round(f1_base, 4),
                "samples": built.n_samples,
                "val_macro_f1": card.metrics.get("val_macro_f1"),
            }
        )
    )
    assert f1_model > f1_base + 0.03, (f1_model, f1_base)  # seen: 0.78 vs 0.70
    # the card carries what the inference engine needs
    assert card.bands == [1, 2, 3] and card.scaler["kind"] == "robust" and card.stride == 4
    assert card.window_radius == 32 and card.loss_window_radius == 16 and card.halo % 4 == 0
    assert card.codes() == list(schema.codes) and len(card.fingerprint) == 16
    assert card.model_extra["reef_decision"]["fitted_on"].startswith("validation")
    assert {"val_macro_f1", "val_loss", "reef_f1"} <= set(card.metrics)
    for f in ("index.html", "curves.png", "confusion.png", "classes.png", "samples.png"):
        assert (tmp_path / "model" / "report" / f).stat().st_size > 0
