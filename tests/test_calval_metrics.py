"""One metrics module, one zero-division rule: training's evaluation and calval score alike."""

from __future__ import annotations

import json

import numpy as np

from reefdask.calval.metrics import binary_f1, class_metrics, macro_mean
from reefdask.train.evaluate import class_scores
from reefdask.train.reef_decision import f1_score, fit_threshold


def test_training_scores_are_the_calval_metrics_with_undefined_as_nan():
    """Regression: train/evaluate gave 0 where calval gave NaN for a zero denominator."""
    m = np.array([[5, 1, 0], [2, 0, 0], [0, 0, 0]])  # class 1 never predicted right; class 2 absent
    s, c = class_scores(m), class_metrics(m)
    for key in ("precision", "recall", "f1", "iou"):
        np.testing.assert_array_equal(np.asarray(s[key]), c[key])
    assert np.isnan(s["precision"][2]) and np.isnan(s["recall"][2]) and np.isnan(s["f1"][2])
    assert s["precision"][1] == 0.0  # 0 of 1 predicted: defined, zero
    assert s["macro_f1"] == macro_mean(c["f1"]) == np.mean(c["f1"][:2])  # undefined classes left out
    assert s["overall_accuracy"] == c["overall_accuracy"]
    empty = class_scores(np.zeros((2, 2)))
    assert np.isnan(empty["overall_accuracy"]) and np.isnan(empty["macro_f1"])


def test_reef_f1_follows_the_rule_and_fitting_skips_undefined_scores():
    assert np.isnan(f1_score(np.zeros(4, bool), np.zeros(4, bool)))
    assert f1_score([True, False], [True, True]) == binary_f1([True, False], [True, True]) == 2 / 3
    d = fit_threshold(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]))
    assert 0.2 <= d["threshold"] < 0.8 and d["fit_f1"] == 1.0


def test_undefined_scores_survive_the_model_card():
    from reefdask.model.card import ModelCard

    card = ModelCard(
        bands=[1], metrics={"val_macro_f1": float("nan")}, class_metrics={"val": {"f1": [np.nan]}}
    )
    back = ModelCard.model_validate(json.loads(card.model_dump_json()))
    assert np.isnan(back.metrics["val_macro_f1"]) and np.isnan(
        back.model_extra["class_metrics"]["val"]["f1"][0]
    )
