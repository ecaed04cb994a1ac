"""Confusion matrices and metrics against scikit-learn; Dask equals NumPy for any chunking."""

from __future__ import annotations

import dask.array as dsa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score, precision_recall_fscore_support
from sklearn.metrics import confusion_matrix as sk_confusion

from reefdask.calval.area import PixelAreas
from reefdask.calval.confusion import Confusion, confusion
from reefdask.calval.metrics import binary_summary, class_metrics, site_means
from reefdask.errors import ReefdaskError


def _maps(
    seed: int, shape=(37, 53), dtype="uint8", nodata=255, ref_codes=(1, 2, 3, 5), pred_codes=(1, 2, 4, 5)
):
    rng = np.random.default_rng(seed)
    ref = rng.choice(np.array((*ref_codes, nodata), dtype=dtype), size=shape)
    pred = rng.choice(np.array((*pred_codes, nodata), dtype=dtype), size=shape)
    return ref, pred


def _sk(ref, pred, labels, nodata):
    ok = (ref != nodata) & (pred != nodata)
    return ref[ok], pred[ok]


@pytest.mark.parametrize(
    "dtype,nodata", [("uint8", 255), ("int16", -9999), ("int32", -1), ("float32", np.nan)]
)
def test_matches_sklearn_with_nodata_and_absent_classes(dtype, nodata):
    labels = [1, 2, 3, 4, 5, 6]  # 3 absent from the prediction, 4 from the reference, 6 from both
    ref, pred = _maps(0, dtype=dtype, nodata=nodata)
    cm = confusion(ref, pred, labels)
    r, p = (ref.ravel(), pred.ravel())
    ok = (
        ~(np.isnan(r.astype("float64")) | np.isnan(p.astype("float64")))
        if dtype == "float32"
        else (r != nodata) & (p != nodata)
    )
    expected = sk_confusion(r[ok], p[ok], labels=labels)
    np.testing.assert_array_equal(cm.counts, expected)
    assert cm.excluded == ref.size - ok.sum()
    assert cm.total == ok.sum()

    m = class_metrics(cm.counts)
    prec, rec, f1, sup = precision_recall_fscore_support(r[ok], p[ok], labels=labels, zero_division=np.nan)
    np.testing.assert_allclose(m["precision"], prec, equal_nan=True)
    np.testing.assert_allclose(m["recall"], rec, equal_nan=True)
    np.testing.assert_allclose(m["f1"], f1, equal_nan=True)
    np.testing.assert_array_equal(m["support"], sup)
    assert m["kappa"] == pytest.approx(cohen_kappa_score(r[ok], p[ok], labels=labels))
    assert m["overall_accuracy"] == pytest.approx(np.mean(r[ok] == p[ok]))
    # IoU = TP / (TP + FP + FN), independently from the definition
    for i, c in enumerate(labels):
        tp = np.sum((r[ok] == c) & (p[ok] == c))
        union = np.sum((r[ok] == c) | (p[ok] == c))
        assert (np.isnan(m["iou"][i]) and union == 0) or m["iou"][i] == pytest.approx(tp / union)


def test_undeclared_codes_and_mask_are_excluded():
    ref, pred = _maps(1)
    ref[0, :5] = 9  # not a label
    mask = np.random.default_rng(2).random(ref.shape) > 0.3
    labels = [1, 2, 3, 4, 5]
    cm = confusion(ref, pred, labels, mask=mask)
    ok = mask & np.isin(ref, labels) & np.isin(pred, labels)
    np.testing.assert_array_equal(cm.counts, sk_confusion(ref[ok], pred[ok], labels=labels))
    assert cm.excluded == ref.size - ok.sum()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    cy=st.integers(1, 17),
    cx=st.integers(1, 17),
    cy2=st.integers(1, 17),
    use_mask=st.booleans(),
)
def test_dask_equals_numpy_for_any_chunking(seed, h, w, cy, cx, cy2, use_mask):
    ref, pred = _maps(seed, shape=(h, w))
    mask = np.random.default_rng(seed + 1).random((h, w)) > 0.2 if use_mask else None
    areas = PixelAreas((10.0, 0, 1e5, 0, -10.0, 2e6), "EPSG:3857", width=w)
    labels = [1, 2, 3, 4, 5]
    want = confusion(ref, pred, labels, mask=mask, areas=areas)
    got = confusion(
        dsa.from_array(ref, chunks=(cy, cx)),
        dsa.from_array(pred, chunks=(cy2, cx)),  # different chunks on purpose: rechunked to ref's
        labels,
        mask=None if mask is None else dsa.from_array(mask, chunks=(cy2, cy)),
        areas=areas,
        split_every=3,
    )
    np.testing.assert_array_equal(got.counts, want.counts)
    assert got.excluded == want.excluded
    np.testing.assert_allclose(got.area, want.area, rtol=1e-12, atol=0)


def test_area_matrix_weights_each_row_by_its_ground_area():
    ref, pred = _maps(3, shape=(64, 20))
    areas = PixelAreas((4.77, 0, 0, 0, -4.77, 4e6), "EPSG:3857", width=20)
    labels = [1, 2, 3, 4, 5]
    cm = confusion(ref, pred, labels, areas=areas)
    per_row = areas.rows(0, 64)
    expected = np.zeros((5, 5))
    for r in range(64):
        expected += per_row[r] * sk_confusion(*_sk(ref[r], pred[r], labels, 255), labels=labels)
    np.testing.assert_allclose(cm.area, expected, rtol=1e-12)
    assert per_row[0] < per_row[-1]  # northern hemisphere: rows shrink northward (top row is north)


def test_binary_summary_and_site_means():
    counts = np.array([[50, 10], [5, 35]])  # rows reference (0 not reef, 1 reef)
    s = binary_summary(counts, positive=1, area=counts * 0.5)
    assert (s["tp_km2"], s["fp_km2"], s["fn_km2"], s["tn_km2"]) == (17.5, 5.0, 2.5, 25.0)
    assert s["precision"] == pytest.approx(35 / 45) and s["recall"] == pytest.approx(35 / 40)
    assert s["f1"] == pytest.approx(2 * 35 / (2 * 35 + 10 + 5))
    sites = [
        {"f1": 0.5, "precision": 0.4, "recall": 0.6, "reference_positive_km2": 3.0},
        {"f1": 0.9, "precision": 0.8, "recall": 1.0, "reference_positive_km2": 1.0},
        {
            "f1": float("nan"),
            "precision": float("nan"),
            "recall": float("nan"),
            "reference_positive_km2": 0.0,
        },
    ]
    m = site_means(sites)
    assert m["mean_f1"] == pytest.approx(0.7)
    assert m["weighted_f1"] == pytest.approx((0.5 * 3 + 0.9 * 1) / 4)
    assert m["weighted_recall"] == pytest.approx((0.6 * 3 + 1.0) / 4)


def test_confusion_add_and_errors():
    ref, pred = _maps(4)
    a = confusion(ref[:10], pred[:10], [1, 2, 3])
    b = confusion(ref[10:], pred[10:], [1, 2, 3])
    whole = confusion(ref, pred, [1, 2, 3])
    s = a + b
    assert isinstance(s, Confusion)
    np.testing.assert_array_equal(s.counts, whole.counts)
    assert s.excluded == whole.excluded
    assert whole.to_dict()["counts"] == whole.counts.tolist()
    with pytest.raises(ReefdaskError, match="one shape"):
        confusion(ref, pred[:-1], [1, 2])
    with pytest.raises(ReefdaskError, match="distinct"):
        confusion(ref, pred, [1, 1])
    with pytest.raises(ReefdaskError, match="labels"):
        a + confusion(ref, pred, [1, 2])
