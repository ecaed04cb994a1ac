"""Architectures keep spatial size for every multiple of their stride; the loss matches a hand value."""

from __future__ import annotations

import numpy as np
import pytest

from reefdask.train.config import ArchSpec

pytestmark = pytest.mark.tf


@pytest.mark.parametrize(
    "name", ["unet", "dense_unet", "res_unet", "flat_net", "dense_flat_net", "res_flat_net"]
)
def test_architectures_keep_size(name):
    from reefdask.train.architectures import build_model, receptive_field, recommended_halo, stride

    spec = ArchSpec(name=name, filters=4, blocks=[1, 1, 2], batch_norm=name.startswith("res"), dropout=0.1)
    model = build_model(spec, n_bands=3, n_classes=5)
    s = stride(spec)
    assert s == (4 if "unet" in name else 1)
    assert receptive_field(spec) > 1 and recommended_halo(spec) % s == 0
    for side in (8, 12, 20):
        h, w = side * s // s * s, (side + 4) * s // s * s
        out = model(np.zeros((1, h, w, 3), "float32"))
        assert out.shape == (1, h, w, 5)
        assert np.allclose(np.asarray(out).sum(-1), 1, atol=1e-5)


def test_receptive_field_bounds_the_real_influence():
    """An impulse's influence never reaches farther than half the estimated receptive field."""
    from reefdask.train.architectures import build_model, receptive_field

    spec = ArchSpec(name="unet", filters=4, blocks=[1, 1])
    model = build_model(spec, 1, 2)
    x = np.zeros((1, 64, 64, 1), "float32")
    base = np.asarray(model(x))
    x[0, 32, 32, 0] = 100
    changed = np.abs(np.asarray(model(x)) - base).max(-1)[0] > 0
    ys, xs = np.nonzero(changed)
    reach = max(np.abs(ys - 32).max(), np.abs(xs - 32).max())
    assert 0 < reach <= receptive_field(spec) // 2 + 1


def test_unknown_architecture_names_the_known():
    from reefdask.errors import ConfigError
    from reefdask.train.architectures import build_model

    with pytest.raises(ConfigError, match="unet"):
        build_model(ArchSpec(name="vnet"), 3, 2)


def test_loss_equals_hand_computed_value():
    from reefdask.train.losses import WeightedCCE

    p = np.array(
        [
            [
                [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]],
                [[0.5, 0.25, 0.25], [0.2, 0.2, 0.6], [0.9, 0.05, 0.05]],
                [[0.6, 0.2, 0.2], [0.1, 0.1, 0.8], [0.2, 0.5, 0.3]],
            ]
        ],
        "float32",
    )
    cls = np.array([[[0, 1, 2], [0, 255, 1], [2, 2, 0]]], "float32")
    w = np.array([[[9, 9, 9], [9, 2.0, 0.5], [9, 9, 9]]], "float32")  # outer ring is outside the loss window
    y = np.stack([cls, w], -1)
    # crop 1 keeps the centre pixel only: class 255 (nodata), weight 2 -> zero one-hot -> loss 0
    assert float(WeightedCCE(crop=1)(y, p)) == pytest.approx(0.0)
    # no crop: sum_i w_i * -log p_i[c_i] / sum_i w_i (nodata pixel contributes weight but no loss)
    # rows: (c0 .7, c1 .8, c2 .4), (c0 .5, nodata, c1 .05 w .5), (c2 .2, c2 .8, c0 .2)
    num = 9 * -np.log([0.7, 0.8, 0.4, 0.5, 0.2, 0.8, 0.2]).sum() + 0.5 * -np.log(0.05)
    assert float(WeightedCCE()(y, p)) == pytest.approx(num / (9 * 7 + 2 + 0.5), rel=1e-5)


def test_metrics_per_class_f1_and_iou():
    from reefdask.train.losses import ClassF1, ClassIoU, MacroF1, MacroIoU

    t = np.array([[[0, 0, 1, 1, 2, 255]]], "float32")
    w = np.array([[[1, 1, 1, 1, 0, 1]]], "float32")  # class 2 weight 0: ignored; nodata ignored
    p = np.eye(3, dtype="float32")[[[[0, 1, 1, 1, 2, 0]]]]
    y = np.stack([t, w], -1)
    vals = {}
    for m in (ClassF1(3, 0), ClassF1(3, 1), ClassIoU(3, 1), MacroF1(3), MacroIoU(3)):
        m.update_state(y, p)
        vals[m.name] = float(m.result())
    assert vals["f1_0"] == pytest.approx(2 / 3) and vals["f1_1"] == pytest.approx(0.8)
    assert vals["iou_1"] == pytest.approx(2 / 3)
    assert vals["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert vals["macro_iou"] == pytest.approx((0.5 + 2 / 3) / 2)


@pytest.mark.parametrize("name", ["unet", "dense_unet", "res_flat_net"])
def test_seeded_build_equals_keras_seeding_and_ignores_the_global_rng(name):
    """``build_model(seed=s)`` gives the model ``set_random_seed(s)`` gives, whatever the global RNG."""
    import random

    import keras

    from reefdask.train.architectures import build_model

    spec = ArchSpec(name=name, filters=4, blocks=[1, 2], dropout=0.1, batch_norm=True)
    keras.utils.set_random_seed(7)
    reference = build_model(spec, 3, 5).get_weights()
    keras.utils.set_random_seed(0)
    random.random()  # another thread drawing from the global RNG, as a Dask worker's event loop does
    seeded = build_model(spec, 3, 5, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(reference, seeded.get_weights(), strict=True))
    drops = [layer.seed_generator for layer in seeded.layers if "dropout" in layer.name]
    assert len({int(g.state.numpy()[0]) for g in drops}) == len(drops) >= 2  # one seed each
