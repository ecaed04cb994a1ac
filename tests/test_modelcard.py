"""Model cards: round trip beside the model, validation, and the engine reading them."""

from __future__ import annotations

import shutil
import uuid

import numpy as np
import pytest
from pydantic import ValidationError

from reefdask.core.classes import default_schema
from reefdask.errors import ModelError
from reefdask.model.card import ModelCard, card_url, read_card


def test_card_round_trips_beside_the_model(tmp_path):
    model = str(tmp_path / "unet.keras")
    card = ModelCard(
        name="unet",
        bands=[1, 2, 3],
        scaler={"kind": "robust", "center": [1, 2, 3], "scale": [4, 5, 6]},
        classes=default_schema().to_dict(),
        window_radius=128,
        loss_window_radius=64,
        stride=8,
        receptive_field=60,
        halo=64,
        metrics={"val_accuracy": 0.9},
        versions={"keras": "3"},
    )
    assert read_card(model) is None
    url = card.save(model)
    assert url == str(tmp_path / "unet.card.json") == card_url(model)
    back = read_card(model)
    assert back == card and back.codes() == list(range(1, 15))
    assert back.nodata_encoding == -10.0


def test_card_validation_names_the_problem(tmp_path):
    with pytest.raises(ValidationError, match="center"):
        ModelCard(bands=[1], scaler={"kind": "robust"})
    with pytest.raises(ValidationError, match="scaler kind"):
        ModelCard(bands=[1], scaler={"kind": "zscore-ish"})
    bad = tmp_path / "m.card.json"
    bad.write_text('{"bands": []}')
    with pytest.raises(ModelError, match="m.card.json"):
        ModelCard.load(str(bad))


@pytest.mark.tf
def test_predict_takes_preprocessing_from_the_card(tmp_path):
    from reefdask.predict import plan_prediction, predict
    from reefdask.testing.models import as_imagery, scene_array, tiny_fcn

    bare = str(tmp_path / "bare.keras")
    tiny_fcn(bare, bands=2, classes=3, seed=7)
    carded = str(tmp_path / "carded.keras")
    shutil.copy(bare, carded)
    scaler = {"kind": "affine", "center": [120, 60], "scale": [40, 30]}
    ModelCard(bands=[3, 1], scaler=scaler, class_codes=[2, 5, 9], halo=4).save(carded)
    da = as_imagery(scene_array(40, 40, bands=4, seed=8))

    def mem():
        return f"memory://card-{uuid.uuid4().hex[:8]}.zarr"

    plan = plan_prediction(da, carded, mem(), chunk=16)
    assert plan.preprocessing_source == "model card" and plan.halo == 4
    assert plan.preprocessing.bands == (3, 1) and plan.class_codes == (2, 5, 9)
    with_card = predict(da, carded, mem(), chunk=16, output_dtype="float32")
    explicit = predict(
        da,
        bare,
        mem(),
        chunk=16,
        output_dtype="float32",
        halo=4,
        bands=[3, 1],
        scaler=scaler,
        classes=[2, 5, 9],
    )
    np.testing.assert_array_equal(with_card.probabilities.values, explicit.probabilities.values)
    assert set(np.unique(with_card.classes.values)) <= {2, 5, 9}
    assert with_card.attrs["reefdask"]["fingerprint"] == explicit.attrs["reefdask"]["fingerprint"]
    with pytest.raises(Exception, match="bands"):
        plan_prediction(da, bare, mem(), chunk=16, bands=[1, 2, 3])
