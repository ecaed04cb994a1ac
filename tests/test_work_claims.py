"""Claims: exclusive under threads and processes, takeover exactly once, fencing, expiry."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest
from work_support import BACKENDS, store_fixture

from reefdask.errors import ConfigError
from reefdask.io.store import open_store
from reefdask.work import ClaimLostError, Claims, Records, Work
from reefdask.work.claims import _HOST


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    return store_fixture(request, tmp_path)


def _race(n: int, fn):
    """Run ``fn(i)`` in ``n`` threads released together; their results."""
    barrier = threading.Barrier(n)

    def go(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def test_one_holder_among_threads(store):
    claims = [Claims(store, "w", owner=f"t{i}") for i in range(8)]
    for unit in ("u1", "u2", "u3"):
        won = [c for c in _race(8, lambda i, u=unit: claims[i].acquire(u)) if c is not None]
        assert len(won) == 1
        assert Claims(store, "w").holder(unit)["owner"] == won[0].owner


def test_expired_claim_is_taken_over_exactly_once(store):
    """Eight waiters all judge the claim stale at once: exactly one holds it afterwards."""
    for round_ in range(5):
        unit = f"u{round_}"
        Claims(store, "w", owner="crashed", ttl=0.05).acquire(unit)
        time.sleep(0.1)  # the crashed holder's claim expires
        claims = [Claims(store, "w", owner=f"t{i}") for i in range(8)]
        won = [c for c in _race(8, lambda i, u=unit, cs=claims: cs[i].acquire(u)) if c is not None]
        assert len(won) == 1, f"round {round_}: {[c.owner for c in won]}"
        won[0].check()  # the winner really holds it
        assert Claims(store, "w").holder(unit)["owner"] == won[0].owner


def test_fencing_refuses_to_record_after_a_takeover(store):
    slow = Work(store, "w", owner="slow", ttl=0.05)
    claim = slow.claim("u")
    time.sleep(0.1)  # slow worker stalls past its ttl
    fast = Work(store, "w", owner="fast")
    taken = fast.claim("u")
    assert not isinstance(taken, str) and taken.owner == "fast"
    with pytest.raises(ClaimLostError, match="taken over"):
        slow.records.done("u", claim=claim)
    assert slow.records.scan() == {}  # nothing recorded by the old holder
    assert not claim.release()  # and it cannot delete the new holder's claim
    fast.records.done("u", claim=taken)
    assert fast.records.scan()["u"].status == "done"
    assert fast.records.get("u").owner == "fast"


def test_check_renews_an_expired_but_untaken_claim(store):
    """Expiry alone is no loss: a holder whose claim nobody took over may still record."""
    claims = Claims(store, "w", owner="a", ttl=0.05)
    claim = claims.acquire("u")
    before = claim.expires
    time.sleep(0.1)
    claim.check()
    assert claim.expires > before
    assert Claims(store, "w", owner="b").acquire("u") is None


def test_live_claim_blocks_release_frees(store):
    a, b = Claims(store, "w", owner="a"), Claims(store, "w", owner="b")
    claim = a.acquire("u")
    assert b.acquire("u") is None
    assert claim.renew()
    assert claim.release()
    assert b.acquire("u").owner == "b"


def test_claim_of_a_dead_process_on_this_host_is_taken_over_at_once(store):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    pid = int(dead.stdout)
    body = {"owner": "dead", "token": "t", "expires": time.time() + 3600, "host": _HOST, "pid": pid}
    store.create("w/_claims/u", json.dumps(body).encode())
    assert Claims(store, "w", owner="me").acquire("u").owner == "me"


def test_keep_renews_while_working(store):
    claims = Claims(store, "w", owner="a", ttl=0.3)
    claim = claims.acquire("u")
    gen = claim.generation
    with claim.keep(interval=0.02):
        time.sleep(0.5)  # longer than the ttl: without renewal the claim would be free
        assert Claims(store, "w", owner="b").acquire("u") is None
    assert claim.generation > gen and not claim.lost


def test_claim_ttl_must_be_positive(store):
    with pytest.raises(ConfigError, match="ttl must be positive"):
        Claims(store, "w", ttl=0)


def _grab(args):
    """In a child process: try every unit once, hold what was won until all are done."""
    root, me, units, options = args
    claims = Claims(open_store(root, options), "w", owner=me)
    return [u for u in units if claims.acquire(u) is not None]


@pytest.mark.parametrize("where", ["local", "shared", pytest.param("gcs", marks=pytest.mark.gcs)])
def test_one_holder_among_processes(tmp_path, where, request):
    options = None
    if where == "gcs":
        from globalmap_support import gcs_options, new_bucket

        endpoint = request.getfixturevalue("fake_gcs")
        root, options = f"{new_bucket(endpoint)}/work", gcs_options(endpoint)
    else:
        root = str(tmp_path / "store")
        open_store(root, shared=where == "shared")
    units = [f"u{i:02d}" for i in range(40)]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(3, mp_context=ctx) as pool:
        won = list(pool.map(_grab, [(root, f"p{i}", units, options) for i in range(3)]))
    flat = [u for w in won for u in w]
    assert sorted(flat) == units  # every unit claimed once, none twice
    listing = Records(open_store(root, options), "w").scan()
    assert listing == {}  # claims are not records


def test_fence_travels_and_passes_only_while_the_claim_is_held(store):
    """A worker's fence (pickled, as to a Dask worker) fails once the claim is taken over."""
    import pickle

    slow = Claims(store, "w", owner="slow", ttl=0.3)
    claim = slow.acquire("u")
    fence = pickle.loads(pickle.dumps(claim.fence(margin=0.1)))
    fence.check()  # held, 0.3 s to run
    time.sleep(0.25)
    with pytest.raises(ClaimLostError, match="no longer held"):
        fence.check()  # still ours, but too close to expiry to start a write
    claim.check()  # the holder renews: the fence passes again
    fence.check()
    time.sleep(0.35)
    taken = Claims(store, "w", owner="fast").acquire("u")
    assert taken is not None
    with pytest.raises(ClaimLostError):
        fence()  # taken over: another token


@pytest.mark.parametrize("shared", [False, True])
def test_a_claim_racing_with_the_purge_of_a_finished_unit_retries(tmp_path, shared, monkeypatch):
    """Job A purges its released claim's folder while job B is creating it: B tries again, no error."""
    import shutil

    import reefdask.io.store_local as store_local

    store = open_store(str(tmp_path / "s"), shared=shared)
    a, b = Claims(store, "w", owner="a"), Claims(store, "w", owner="b")
    claim = a.acquire("u")
    assert claim.release()
    real_link, purged = os.link, []

    def link(src, dst, *args, **kwargs):
        if not purged and "/_claims/u/" in str(dst):  # A's purge lands between B's temp write and its link
            purged.append(dst)
            shutil.rmtree(os.path.dirname(dst))
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(store_local.os, "link", link)
    won = b.acquire("u")
    assert purged and won is not None and won.owner == "b"
    won.check()
