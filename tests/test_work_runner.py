"""The work loop: resume, retry, bugs, held and lost units; any interleaving of two workers."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from work_support import BACKENDS, store_fixture

import reefdask.work.claims as claims_mod
from reefdask.errors import NotARasterError
from reefdask.io.store import HOST, open_store
from reefdask.work import FAILURES, ClaimLostError, Skip, Work


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    return store_fixture(request, tmp_path)


def test_resume_skips_done_and_retries_only_asked_classes(store):
    calls: list[str] = []

    def do_one(unit):
        calls.append(unit)
        if unit == "bad":
            raise NotARasterError("not a TIFF")
        if unit == "gone":
            raise FileNotFoundError("vanished")
        if unit == "empty":
            return Skip("nodata", {"pixels": 0})
        return {"pixels": 9}

    units = ["a", "bad", "gone", "empty"]
    first = Work(store, "w").run(units, do_one)
    assert (first.done, first.skipped) == (["a"], ["empty"])
    assert first.failed == {"bad": "permanent: NotARasterError: not a TIFF",
                            "gone": "missing: FileNotFoundError: vanished"}  # fmt: skip
    calls.clear()
    again = Work(store, "w").run(units, do_one)  # default retry: missing and transient
    assert calls == ["gone"] and again.already == ["a", "empty"] and again.final == ["bad"]
    calls.clear()
    Work(store, "w").run(units, do_one, retry=FAILURES)
    assert calls == ["bad", "gone"]
    rec = Work(store, "w").records
    assert len(rec.get("gone").attempts) == 3  # three failed attempts, with reasons
    calls.clear()
    Work(store, "w").run(units, do_one, retry=(), overwrite=True)
    assert calls == units


def test_a_bug_stops_the_run_and_frees_its_claim(store):
    work = Work(store, "w")

    def do_one(unit):
        raise TypeError("a bug, not a data problem")

    with pytest.raises(TypeError):
        work.run(["u"], do_one)
    assert work.records.scan() == {}
    assert work.claims.holder("u") is None


def test_units_held_by_others_are_left_to_them(store):
    other = Work(store, "w", owner="other")
    claim = other.claim("u")
    report = Work(store, "w", owner="me").run(["u", "v"], lambda u: None)
    assert report.held == ["u"] and report.done == ["v"]
    other.record(claim, None)
    other.finish(claim, "done")
    assert Work(store, "w").run(["u", "v"], lambda u: None).already == ["u", "v"]


def test_a_unit_finished_after_the_plan_is_not_redone(store):
    mine, theirs = Work(store, "w", owner="me"), Work(store, "w", owner="them")
    plan = mine.plan(["u"])
    assert plan.pending == ["u"]
    claim = theirs.claim("u")
    theirs.record(claim, None)
    theirs.finish(claim, "done")
    assert mine.claim("u") == "already"


def test_lost_claim_records_nothing(store):
    work = Work(store, "w", owner="slow")

    def do_one(unit):
        key = work.claims.key(unit)
        current = store.get(key)  # another worker takes the claim over mid-work
        store.update(key, b'{"owner": "thief", "token": "x", "expires": 1e12}', generation=current.generation)
        return None

    report = work.run(["u"], do_one)
    assert report.lost == ["u"] and work.records.scan() == {}


def test_run_removes_stale_temporaries(tmp_path):
    store = open_store(str(tmp_path / "s"))
    pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                             capture_output=True).stdout)  # fmt: skip
    os.makedirs(tmp_path / "s" / "w")
    stale = tmp_path / "s" / "w" / f".u.done.json.part-{HOST}-{pid}-0123abcd"
    stale.write_bytes(b"half")
    Work(store, "w").run(["u"], lambda u: None)
    assert not stale.exists() and store.list("w/") == ["w/u.done.json"]


# -- any interleaving of two workers ------------------------------------------------------------
class _Clock:
    now = 1_000_000.0

    def time(self) -> float:
        return self.now


def _worker(work: Work, units: list[str], log: list[str]):
    """One worker as a generator: each ``yield`` is a point where the other may run."""
    plan = work.plan(units)
    yield
    for unit in plan.pending:
        claim = work.claim(unit)
        yield
        if isinstance(claim, str):
            continue
        log.append(f"{work.claims.owner} works {unit}")
        yield
        try:
            status = work.record(claim, {"by": work.claims.owner}, plan.listing)
        except ClaimLostError:
            continue
        yield
        work.finish(claim, status)
        yield


def _live_holders(store, workers, unit, now) -> int:
    current = store.get(workers[0][0].claims.key(unit))
    n = 0
    for _, held in workers:
        c = held.get(unit)
        if c is not None and current is not None and not c.lost and c.expires > now \
                and c.generation == current.generation and c.token in current.data.decode():  # fmt: skip
            n += 1
    return n


@pytest.mark.parametrize("kind", ["memory", "local"])
@example(steps=["b", "b", "tick"], n=1)  # b stalls past its ttl, a takes over, b must not record
@example(steps=["a", "a", "a", "b", "tick", "b", "b", "b", "a", "a"], n=2)
@example(steps=["a", "a", "crash-a", "b", "tick", "b"], n=3)  # a dies holding u0
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.sampled_from(["a", "b", "a", "b", "tick", "crash-a", "crash-b"]), max_size=50),
       n=st.integers(1, 5))  # fmt: skip
def test_two_workers_any_interleaving_every_unit_done_once(kind, steps, n, monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(claims_mod, "time", clock)
    root = f"memory://prop-{uuid.uuid4().hex}" if kind == "memory" else tempfile.mkdtemp()
    store = open_store(root)
    published: list[str] = []
    real_publish = store.publish

    def publish(key, data, **kw):
        real_publish(key, data, **kw)
        published.append(key)

    monkeypatch.setattr(store, "publish", publish)
    units = [f"u{i}" for i in range(n)]
    log: list[str] = []
    ttl = 100.0
    works = {w: Work(store, "w", owner=w, ttl=ttl) for w in "ab"}
    held: dict[str, dict] = {w: {} for w in "ab"}
    real_claim = {w: works[w].claim for w in "ab"}
    for w in "ab":  # remember each worker's claims, to count live holders

        def claim(unit, _w=w, **kw):
            c = real_claim[_w](unit, **kw)
            if not isinstance(c, str):
                held[_w][unit] = c
            return c

        monkeypatch.setattr(works[w], "claim", claim)
    gens = {w: _worker(works[w], units, log) for w in "ab"}
    pairs = [(works[w], held[w]) for w in "ab"]
    for step in steps:
        if step == "tick":
            clock.now += ttl * 1.5
        elif step.startswith("crash-"):
            gens.pop(step[-1], None)  # dies holding whatever it holds
        elif step in gens:
            if next(gens[step], "end") == "end":
                gens.pop(step)
        for unit in units:
            assert _live_holders(store, pairs, unit, clock.now) <= 1
    for g in gens.values():  # the survivors finish
        for _ in g:
            pass
    clock.now += ttl * 1.5  # a crashed worker's claims expire; a fresh worker sweeps up
    for _ in _worker(Work(store, "w", owner="sweeper", ttl=ttl), units, log):
        pass
    done = [k for k in published if k.endswith(".done.json")]
    assert sorted(done) == sorted(f"w/{u}.done.json" for u in units), log
    assert works["a"].records.scan().counts()["done"] == n
