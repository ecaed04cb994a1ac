"""Reports render: HTML/Markdown/JSON files exist and hold the computed numbers; PNGs are
valid, non-trivial images; the comparison ranks by area-weighted F1."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.image import imread

from reefdask.calval.evaluate import evaluate
from reefdask.calval.maps import MapSpec
from reefdask.calval.report import compare_reports, fmt, write_report
from reefdask.errors import InputNotFoundError, ReefdaskError
from reefdask.testing.calval import make_calval_scene


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    s = make_calval_scene(root / "scene", seed=3)
    model = evaluate(s["prediction"], s["reference"], sites=s["sites"], imagery=s["imagery"], name="unet")
    base = evaluate(
        MapSpec(s["reference_vector"], field="class"), s["reference"], sites=s["sites"], name="polygons"
    )
    files = write_report(model, root / "unet")
    bfiles = write_report(base, root / "polygons", role="baseline")
    return root, model, files, bfiles


def _assert_png(path, min_colours=4):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = imread(path)
    assert img.shape[0] > 100 and img.shape[1] > 100
    colours = np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) >= min_colours  # not a blank or single-colour canvas
    assert img[..., :3].std() > 0.05


def test_report_files_hold_every_number(reports):
    _root, ev, files, _ = reports
    for key in (
        "json",
        "markdown",
        "html",
        "confusion_png",
        "classes_png",
        "site_north-reef_png",
        "site_south-reef_png",
    ):
        assert files[key].exists() and files[key].stat().st_size > 0
    data = json.loads(files["json"].read_text())
    assert data["role"] == "model" and data["means"]["weighted_f1"] == pytest.approx(ev.means["weighted_f1"])
    md, page = files["markdown"].read_text(), files["html"].read_text()
    numbers = [ev.means[k] for k in ("weighted_f1", "mean_f1", "weighted_precision", "weighted_recall")]
    for site in ev.sites:
        numbers += [
            site.binary[k] for k in ("tp_km2", "fp_km2", "fn_km2", "tn_km2", "precision", "recall", "f1")
        ]
    numbers += [*list(ev.pooled.area_metrics["f1"]), ev.pooled.area_metrics["kappa"]]
    for v in numbers:
        assert fmt(float(v)) in md and fmt(float(v)) in page, v
    for c in ev.pooled.confusion.counts.ravel():
        assert f"| {c} |" in md or f"| {c}" in md
    assert page.startswith("<!DOCTYPE html>") and 'src="figures/confusion.png"' in page
    assert "](figures/site-north-reef.png)" in md


def test_pngs_are_valid_and_non_trivial(reports):
    _, _, files, _ = reports
    _assert_png(files["confusion_png"])
    _assert_png(files["classes_png"])
    _assert_png(files["site_north-reef_png"], min_colours=8)  # imagery + classes + TP/FP/FN/TN


def test_comparison_ranks_by_weighted_f1(reports, tmp_path):
    _root, ev, files, bfiles = reports
    out = compare_reports([files["json"], bfiles["json"]], tmp_path / "cmp", title="Test ranking")
    data = json.loads(out["json"].read_text())
    ranking = data["ranking"]
    assert [r["name"] for r in ranking] == ["polygons", "unet"]  # the polygons are the reference: F1 = 1
    assert ranking[0]["weighted_f1"] == pytest.approx(1.0) and ranking[0]["role"] == "baseline"
    assert ranking[1]["weighted_f1"] == pytest.approx(ev.means["weighted_f1"])
    assert set(data["sites"]) == {"north-reef", "south-reef"}
    md = out["markdown"].read_text()
    assert fmt(ev.means["weighted_f1"]) in md and fmt(ev.means["mean_recall"]) in md
    assert "Test ranking" in out["html"].read_text()
    _assert_png(out["png"])


def test_comparison_errors(tmp_path):
    with pytest.raises(InputNotFoundError, match="report.json"):
        compare_reports([tmp_path / "none.json"], tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1}')
    with pytest.raises(ReefdaskError, match="not a calval report"):
        compare_reports([bad], tmp_path)
    with pytest.raises(ReefdaskError, match="at least one"):
        compare_reports([], tmp_path)


def test_fmt():
    assert fmt(0.123456) == "0.1235" and fmt(None) == "n/a" and fmt(float("nan")) == "n/a" and fmt(12) == "12"
