"""Completion records: one listing gives every status, precedence, retry classes, old names."""

from __future__ import annotations

import pytest
from work_support import BACKENDS, store_fixture

from reefdask.errors import ConfigError
from reefdask.work import FAILURES, Record, Records


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    return store_fixture(request, tmp_path)


def test_one_listing_gives_every_status_without_reads(store, monkeypatch):
    rec = Records(store, "_work", run="run-1")
    rec.done("a", info={"seconds": 2.0})
    rec.skipped("b", "no_reef")
    rec.skipped("c", "out_of_domain")
    rec.failed("d", "permanent", "NotARasterError: not a TIFF")
    rec.failed("e", "missing", "InputNotFoundError: gone")
    calls = {"list": 0, "read": 0}
    real_list, real_read = store.list, store.read

    def counted(name, real):
        def call(*args):
            calls[name] += 1
            return real(*args)

        return call

    monkeypatch.setattr(store, "list", counted("list", real_list))
    monkeypatch.setattr(store, "read", counted("read", real_read))
    listing = rec.scan()
    assert calls == {"list": 1, "read": 0}
    assert {u: (e.status, e.detail) for u, e in listing.items()} == {
        "a": ("done", ""),
        "b": ("skipped", "no_reef"),
        "c": ("skipped", "out_of_domain"),
        "d": ("failed", "permanent"),
        "e": ("failed", "missing"),
    }
    assert listing.counts() == {"done": 1, "skipped": 2, "failed": 2}
    assert listing.units("skipped", "no_reef") == ["b"]
    failures = rec.failures(listing)
    assert calls["read"] == 2 and sorted(failures) == ["d", "e"]
    assert failures["d"].reason == "NotARasterError: not a TIFF" and failures["d"].run == "run-1"
    body = rec.get("a", listing["a"])
    assert body is not None and body.info == {"seconds": 2.0} and body.status == "done"


def test_precedence_done_beats_skipped_beats_failed(store):
    rec = Records(store, "p")
    rec.failed("u", "transient", "OSError: reset")
    rec.skipped("u", "nodata")
    assert rec.scan()["u"].status == "skipped"
    rec.done("u")  # not told of the older records: they stay, hidden by precedence
    entry = rec.scan()["u"]
    assert (entry.status, entry.names[0]) == ("done", "u.done.json") and len(entry.names) == 3
    assert rec.tidy() == 2
    assert rec.scan()["u"].names == ("u.done.json",)


def test_failure_classes_rank_and_done_removes_failures(store):
    rec = Records(store, "p")
    store.publish("p/u.failed.transient.json", Record("u", "failed", "transient").to_json())
    store.publish("p/u.failed.permanent.json", Record("u", "failed", "permanent").to_json())
    assert rec.scan()["u"].detail == "permanent"
    listing = rec.scan()
    rec.done("u", replaces=listing["u"].names)
    assert store.list("p/") == ["p/u.done.json"]


def test_failures_carry_attempts_forward_and_keep_one_record(store):
    rec = Records(store, "p", run="r1")
    rec.failed("u", "transient", "ConnectionError: reset")
    rec.run = "r2"
    last = rec.failed("u", "permanent", "NotARasterError: truncated")
    assert store.list("p/") == ["p/u.failed.permanent.json"]
    assert [(a["run"], a["class"]) for a in last.attempts] == [("r1", "transient"), ("r2", "permanent")]
    again = rec.read("u.failed.permanent.json")
    assert again is not None and len(again.attempts) == 2 and again.reason == "NotARasterError: truncated"


def test_retry_classes_choose_what_a_rerun_redoes(store):
    rec = Records(store, "p")
    rec.done("ok")
    rec.failed("t", "transient", "x")
    rec.failed("m", "missing", "x")
    rec.failed("p", "permanent", "x")
    listing = rec.scan()
    units = ["new", "ok", "t", "m", "p"]
    assert listing.pending(units) == ["new", "t", "m"]  # default: transient + missing
    assert listing.pending(units, retry=FAILURES) == ["new", "t", "m", "p"]
    assert listing.pending(units, retry=()) == ["new"]
    assert listing.pending(units, retry=["permanent"]) == ["new", "p"]
    with pytest.raises(ConfigError, match="no failure class"):
        listing.pending(units, retry=["flaky"])


def test_old_ledger_names_still_read(store):
    """The prediction ledger's ``<unit>.<status>.json`` records (no class, no reason) still list."""
    store.publish("_ledger/r00001-c00002.done.json", b'{"row": 1, "col": 2, "status": "done"}')
    store.publish("_ledger/r00001-c00003.failed.json", b'{"row": 1, "col": 3, "status": "failed"}')
    store.publish("_ledger/r00001-c00004.skipped.json", b'{"row": 1, "col": 4, "status": "skipped"}')
    store.publish("_ledger/zarr.json", b"{}")
    rec = Records(store, "_ledger")
    listing = rec.scan()
    assert {u: (e.status, e.detail) for u, e in listing.items()} == {
        "r00001-c00002": ("done", ""),
        "r00001-c00003": ("failed", "transient"),
        "r00001-c00004": ("skipped", "nodata"),
    }
    old = rec.read("r00001-c00003.failed.json")
    assert old is not None and old.info == {"row": 1, "col": 3}


def test_vocabulary_and_unit_names_are_checked(store):
    rec = Records(store, "p")
    with pytest.raises(ConfigError, match="Skip reason"):
        rec.skipped("u", "boring")
    with pytest.raises(ConfigError, match="Failure class"):
        rec.failed("u", "flaky", "x")
    with pytest.raises(ConfigError, match="not a valid unit name"):
        rec.done("_claims")
    with pytest.raises(ConfigError, match="not a valid unit name"):
        rec.done("a b")
    rec.done("belize/L15-0001E-0002N.tif")  # nested units (acquire's relative paths) list too
    rec.done("scene.v2")  # dots in a unit name
    assert sorted(rec.scan()) == ["belize/L15-0001E-0002N.tif", "scene.v2"]
    assert rec.finished("scene.v2") and not rec.finished("scene")


def test_remove_makes_a_unit_pending_again(store):
    rec = Records(store, "p")
    rec.done("u")
    rec.failed("v", "missing", "gone")
    rec.remove("u")
    rec.remove("v", rec.scan()["v"])
    assert rec.scan() == {}


def test_a_stage_names_its_skip_reasons_so_finished_checks_only_those(store, monkeypatch):
    rec = Records(store, "p", skip_reasons=("nodata",))
    rec.skipped("u", "nodata")
    checked: list[str] = []
    real = store.exists
    monkeypatch.setattr(store, "exists", lambda k: checked.append(k) or real(k))
    assert rec.finished("u") and not rec.finished("v")
    if store.prefix_listing:  # a bucket: one prefix listing per unit, no existence checks
        assert checked == []
    else:
        names = ["u.done.json", "u.skipped.nodata.json", "v.done.json", "v.skipped.nodata.json"]
        assert checked == [f"p/{n}" for n in names]
    with pytest.raises(ConfigError, match="skip_reasons"):
        Records(store, "p", skip_reasons=("boring",))


def test_finished_by_prefix_listing_matches_only_the_units_own_records(store):
    """On a bucket ``finished`` lists ``<unit>.``: records of ``<unit>.v2`` must not count for ``<unit>``."""
    rec = Records(store, "p")
    rec.done("scene.v2")
    rec.failed("scene", "transient", "timeout")
    assert rec.finished("scene.v2") and not rec.finished("scene")
    rec.skipped("scene", "nodata")
    assert rec.finished("scene")
