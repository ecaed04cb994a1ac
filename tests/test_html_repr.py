"""Notebook views: every ``_repr_html_`` is well-formed, shows the key numbers, escapes user text."""

from __future__ import annotations

import json
import uuid
from html.parser import HTMLParser

import numpy as np
import pytest

from reefdask.predict.ledger import ChunkRecord, Ledger
from reefdask.reporting.html import Markup, fields, fmt, section, table

EVIL = '<script>alert("x")</script>&'
VOID = {"br", "hr", "img", "meta", "input", "col", "wbr"}


class _Checker(HTMLParser):
    """Records tags and text; fails on a closing tag that does not close the innermost open one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.tags: list[str] = []
        self.chunks: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data):
        self.chunks.append(data)


def parse(markup: str) -> tuple[list[str], str]:
    """``(tags, text)`` of well-formed, script-free markup (text as a browser shows it, spaced)."""
    assert isinstance(markup, str) and markup.startswith("<")
    c = _Checker()
    c.feed(markup)
    c.close()
    assert c.open == [], f"unclosed tags {c.open}"
    assert "script" not in c.tags and "style" not in c.tags and "link" not in c.tags
    assert "onerror" not in markup and "javascript:" not in markup
    return c.tags, " ".join(" ".join(c.chunks).split())


def test_builders_escape_and_format():
    tags, text = parse(table(["name", "value"], [[EVIL, 0.5], ["n", 12345]]))
    assert tags.count("tr") == 3 and EVIL in text and "12,345" in text
    assert "&lt;script&gt;" in table(None, [[EVIL]])
    assert parse(fields({"a": 1, "skipped": None}))[1].split() == ["a", "1"]
    assert parse(section(EVIL, table(None, [[Markup("<b>bold</b>")]])))[0] == [
        "details", "summary", "table", "tr", "td", "b",
    ]  # fmt: skip
    assert fmt(np.float32(0.25)) == "0.25" and fmt(np.int64(7)) == "7" and fmt(float("inf")) == "-"


def test_ledger_repr_counts_and_escaped_reasons():
    led = Ledger(f"memory://repr-{uuid.uuid4().hex[:8]}.zarr")
    for c in range(3):
        led.record(ChunkRecord(0, c, "done"))
    led.record(ChunkRecord(1, 0, "skipped"))
    led.record(ChunkRecord(1, 1, "failed", reason=EVIL))
    _, text = parse(led._repr_html_())
    assert "done 3 60" in text and "skipped 1 20" in text and "failed 1 20" in text
    assert "1-1 " + EVIL in text and led.store in text
    assert led.counts() == {"done": 3, "skipped": 1, "failed": 1}


@pytest.mark.tf
@pytest.mark.slow
def test_prediction_plan_summary_and_status(tmp_path):
    from reefdask.predict import execute, plan_prediction, prediction_status
    from reefdask.testing.models import as_imagery, scene_array, tiny_fcn

    model = str(tmp_path / "m.keras")
    tiny_fcn(model, n_conv=1, classes=3)
    store = str(tmp_path / "out.zarr")
    da = as_imagery(scene_array(64, 96, seed=1, nodata_box=(0, 32, 0, 32)), name="evil")
    plan = plan_prediction(da, model, store, chunk=32)
    tags, text = parse(plan._repr_html_())
    assert tags == ["pre"] and "grid 2 x 3 = 6 chunks" in text
    summary = execute(plan)
    _, text = parse(summary._repr_html_())
    assert "done 5" in text and "skipped 1" in text and "total 6" in text and plan.fingerprint in text
    Ledger(store).record(ChunkRecord(1, 2, "failed", reason=EVIL), drop=("done",))
    status = prediction_status(store)
    assert json.loads(json.dumps(status)) == dict(status)  # still a plain JSON-friendly dict
    assert status["counts"] == {"done": 4, "skipped": 1, "failed": 1, "pending": 0}
    _, text = parse(status._repr_html_())
    assert "1-2 " + EVIL in text and plan.fingerprint in text and "scene evil" in text
    assert "failed 1 16.67" in text and "pending 0 0" in text
    assert str(status).startswith(f"{store}: 4 done, 1 skipped, 1 failed, 0 pending of 6 chunks")


def test_model_card_repr(tmp_path):
    from reefdask.core.classes import default_schema
    from reefdask.model.card import ModelCard

    schema = default_schema()
    n = len(schema.codes)
    card = ModelCard(
        name=EVIL,
        bands=[1, 2, 3],
        scaler={"kind": "robust", "center": [90.0, 124.0, 112.0], "scale": [160.0, 150.0, 116.5]},
        classes=schema.to_dict(),
        stride=4,
        receptive_field=25,
        halo=28,
        fingerprint="7a20ae31b49e9642",
        metrics={"val_macro_f1": 0.349},
        class_metrics={"val": {"precision": [0.5] * n, "recall": [0.25] * n, "f1": [1 / 3] * n}},
        architecture={"name": "unet", "filters": 8},
    )
    card = ModelCard.model_validate_json(card.model_dump_json())  # as read from disk
    _, text = parse(card._repr_html_())
    assert EVIL in text and "7a20ae31b49e9642" in text and "unet (filters 8)" in text
    assert "116.5" in text and "0.349" in text and f"{n} classes" in text
    assert f"{schema.codes[4]} {schema.names[4]} 0.5 0.25 0.3333" in text
    bare = ModelCard(bands=[2], class_codes=[7, 9])
    _, text = parse(bare._repr_html_())
    assert "(unnamed)" in text and "2 classes" in text


@pytest.fixture(scope="module")
def calval_scene(tmp_path_factory):
    from reefdask.testing.calval import make_calval_scene

    root = tmp_path_factory.mktemp("calval")
    make_calval_scene(root)
    sites = json.loads((root / "sites.geojson").read_text())
    sites["features"][0]["properties"]["name"] = EVIL
    (root / "sites.geojson").write_text(json.dumps(sites))
    return root


def test_evaluation_and_confusion_reprs(calval_scene):
    from reefdask.calval import evaluate

    root = calval_scene
    ev = evaluate(
        str(root / "prediction.tif"), str(root / "reference.tif"), sites=str(root / "sites.geojson"),
        level="reef",
    )  # fmt: skip
    tags, text = parse(ev._repr_html_())
    pooled = ev.pooled
    assert EVIL in text and "prediction.tif" in text
    for name in ev.names:
        assert name in text
    assert f"{int(pooled.confusion.counts[0, 0]):,}" in text
    assert fmt(pooled.metrics["overall_accuracy"]) in text and fmt(ev.means["weighted_f1"]) in text
    assert fmt(float(pooled.metrics["f1"][0])) in text and tags.count("details") >= 4
    _, text = parse(pooled.confusion._repr_html_())
    assert f"{pooled.confusion.total:,} pixels" in text and "area (km²)" in text


def test_stratified_accuracy_repr():
    from reefdask.calval import stratified_accuracy

    r = stratified_accuracy(np.array([[45, 5], [10, 40]]), [100.0, 900.0], labels=[EVIL, "other"])
    _, text = parse(r._repr_html_())
    assert EVIL in text and "95 %" in text
    assert f"{fmt(r.overall)} ± {fmt(r.overall_ci, 2)}" in text
    assert f"{fmt(r.users[0])} ± {fmt(r.users_ci[0], 2)}" in text
    assert f"{fmt(r.area[1])} ± {fmt(r.area_ci[1], 2)}" in text and "270" in text
    one = stratified_accuracy(np.array([[1, 0], [0, 3]]), [1.0, 1.0])  # one sample: no interval
    _, text = parse(one._repr_html_())
    assert "overall accuracy 1 confidence level" in text  # undefined interval: the value alone


@pytest.mark.tf
@pytest.mark.slow
def test_global_run_progress_repr(tmp_path):
    from globalmap_support import make_model

    from reefdask.globalmap.config import GlobalConfig
    from reefdask.globalmap.progress import RunProgress, format_progress, progress
    from reefdask.globalmap.run import run_job
    from reefdask.synthetic import synth_quads, write_corrupt_quad

    made = synth_quads(tmp_path / "bucket", quads=2, size=64)
    corrupt = "L15-0540E-1123N"
    bad = write_corrupt_quad(tmp_path / "bucket" / "imagery" / "belize" / f"{corrupt}.tif", corrupt, size=64)
    model = make_model(tmp_path / "m.keras")
    run = tmp_path / "run&<b>"
    cfg = GlobalConfig(run=str(run), models=[model], inventory=[m.image for m in made] + [bad], batch=2)
    run_job(cfg, log=lambda s: None)
    p = progress(str(run))
    assert isinstance(p, RunProgress) and json.loads(json.dumps(p, default=str))["total"] == 3
    assert str(p) == format_progress(p)
    _, text = parse(p._repr_html_())
    assert str(run) in text and "corrupt 1" in text and "total 3" in text and corrupt in text
    assert f"3 of 3 ({p['percent']:.1f} %)" in text and "3 of 3 (100.0 %)" in text
