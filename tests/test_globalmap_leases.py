import pickle
import threading
import time

import pytest
from globalmap_support import gcs_options, new_bucket
from hypothesis import given, settings
from hypothesis import strategies as st

from reefdask.globalmap.leases import (
    GCSVersionedStore,
    LeaseKeeper,
    Leases,
    LocalVersionedStore,
    open_versioned_store,
)


@pytest.fixture(params=["local", "gcs"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalVersionedStore(str(tmp_path / "leases"))
    endpoint = request.getfixturevalue("fake_gcs")
    return GCSVersionedStore(f"{new_bucket(endpoint)}/run/state/leases", gcs_options(endpoint))


def test_conditional_writes_follow_gcs_semantics(store):
    assert store.get("a") is None
    g1 = store.create("a", b"one")
    assert g1 and store.create("a", b"again") is None
    v = store.get("a")
    assert (v.data, v.generation) == (b"one", g1)
    g2 = store.update("a", b"two", generation=g1)
    assert g2 and g2 != g1
    assert store.update("a", b"stale", generation=g1) is None
    assert store.get("a").data == b"two"
    assert not store.delete("a", generation=g1)
    assert store.delete("a", generation=g2)
    assert store.get("a") is None
    assert store.create("a", b"new")
    assert store.list() == ["a"]


def test_stores_pickle(store):
    clone = pickle.loads(pickle.dumps(store))
    store.create("k", b"x")
    assert clone.get("k").data == b"x"


def test_lease_lifecycle_and_takeover_of_expired(store):
    a, b = Leases(store, "a", ttl=2), Leases(store, "b", ttl=30)
    la = a.acquire("q")
    assert la and b.acquire("q") is None
    assert a.renew(la)
    time.sleep(max(0.0, la.expires - time.time()) + 0.1)  # a crashed: its lease expires
    lb = b.acquire("q")
    assert lb and lb.owner == "b"
    assert not a.renew(la), "the old holder must learn it lost the lease"
    if isinstance(store, LocalVersionedStore):  # fake-gcs-server ignores delete preconditions
        assert not a.release(la)
    assert [h["owner"] for h in b.held()] == ["b"]
    assert b.release(lb) and b.held() == []


def test_exactly_one_job_takes_over_an_expired_lease(store):
    old = Leases(store, "crashed", ttl=0.2)
    assert old.acquire("q")
    time.sleep(0.3)
    won, barrier = [], threading.Barrier(6)

    def contend(i):
        leases = Leases(store, f"job{i}", ttl=30)
        barrier.wait()
        if leases.acquire("q") is not None:
            won.append(i)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1


def test_keeper_renews_while_working_and_releases_at_the_end(tmp_path):
    store = open_versioned_store(str(tmp_path / "leases"))
    mine, other = Leases(store, "me", ttl=1.5), Leases(store, "other", ttl=1.5)
    with LeaseKeeper(mine) as keeper:
        keeper.add(mine.acquire("q"))
        time.sleep(3.0)  # twice the ttl: only renewals keep it
        assert other.acquire("q") is None
        assert not keeper.lost
    assert other.acquire("q") is not None


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from(["acquire", "renew", "release", "crash"])), max_size=25
    )
)
def test_never_two_live_holders(tmp_path_factory, ops):
    store = LocalVersionedStore(str(tmp_path_factory.mktemp("leases")))
    clock = [1000.0]
    jobs = [Leases(store, f"j{i}", ttl=10) for i in range(3)]
    held = {}
    import reefdask.globalmap.leases as mod

    real = mod.time.time
    mod.time.time = lambda: clock[0]
    try:
        for who, op in ops:
            lease = held.get(who)
            if op == "acquire" and lease is None:
                got = jobs[who].acquire("q")
                if got:
                    held[who] = got
            elif op == "renew" and lease is not None and not jobs[who].renew(lease):
                held.pop(who)
            elif op == "release" and lease is not None:
                jobs[who].release(lease)
                held.pop(who)
            elif op == "crash":
                held.pop(who, None)
                clock[0] += 11  # every lease expires
            live = [w for w, le in held.items() if le.expires > clock[0]]
            assert len(live) <= 1
    finally:
        mod.time.time = real


def test_finished_quads_leave_no_local_lease_behind(tmp_path):
    store = LocalVersionedStore(str(tmp_path / "leases"))
    leases = Leases(store, "me", ttl=30)
    with LeaseKeeper(leases) as keeper:
        keeper.add(leases.acquire("q"))
        keeper.release("q", finished=True)
    assert store.list() == [] and not (tmp_path / "leases" / "q").exists()
    assert leases.acquire("q") is not None  # a key can start over after a purge
