"""The store conformance suite: one base class, run over every backend (zarr's StoreTests)."""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import threading
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reefdask.errors import InputNotFoundError, ReefdaskError, StoreError
from reefdask.io.store import Store, is_temporary, open_store, temp_name
from reefdask.io.store_gcs import GCSStore
from reefdask.io.store_local import LocalStore, SharedDiskStore
from reefdask.io.store_memory import MemoryStore


class Cut(Exception):
    """A source that cuts the connection halfway."""


def _cut_stream():
    yield b"x" * 1000
    raise Cut("connection reset by peer")


def _refuse(path: str) -> None:
    assert os.path.getsize(path) > 0  # the check sees the complete local copy
    raise ValueError("checksum mismatch")


def _create_in_process(store: Store, key: str, tag: int, barrier, out) -> None:
    barrier.wait()
    out.put(store.create(key, f"{tag}".encode()))


class StoreTests:
    """Every backend passes these. Subclasses define the ``store`` fixture."""

    cross_process = False

    def test_publish_read_list_remove(self, store: Store):
        assert store.list() == [] and not store.exists("a/b.json")
        store.publish("a/b.json", b"one")
        store.publish("a/b.json", b"two")
        store.publish("a/c/d.bin", b"\x00")
        assert store.read("a/b.json") == b"two"
        assert store.exists("a/b.json") and store.exists("a")
        assert store.list() == ["a/b.json", "a/c/d.bin"]
        assert store.list("a/c") == ["a/c/d.bin"] and store.list("a/b") == ["a/b.json"]
        store.remove("a/b.json")
        store.remove("a/b.json")  # absent: not an error
        assert store.list() == ["a/c/d.bin"]
        store.remove("a", recursive=True)
        assert store.list() == []
        with pytest.raises(InputNotFoundError):
            store.read("a/b.json")

    def test_publish_bytes_iterable_and_file(self, store: Store, tmp_path):
        store.publish("bytes", b"abc")
        store.publish("chunks", iter([b"a", b"b", b"c"]))
        store.publish("file", io.BytesIO(b"abc"))
        local = tmp_path / "src.bin"
        local.write_bytes(b"abc")
        store.publish_file("from-file", str(local))
        assert local.exists()
        store.publish_file("moved", str(local), move=True)
        assert not local.exists()
        assert {k: store.read(k) for k in store.list()} == dict.fromkeys(
            ["bytes", "chunks", "file", "from-file", "moved"], b"abc"
        )

    def test_a_stream_cut_halfway_publishes_nothing(self, store: Store):
        with pytest.raises(Cut):
            store.publish("q.tif", _cut_stream())
        assert store.list() == [] and not store.exists("q.tif")
        store.publish("q.tif", b"old")
        with pytest.raises(Cut):
            store.publish("q.tif", _cut_stream())
        assert store.read("q.tif") == b"old" and store.list() == ["q.tif"]
        self.assert_no_temporaries(store)

    def test_a_failed_check_publishes_nothing(self, store: Store):
        with pytest.raises(ValueError, match="checksum"):
            store.publish("q.tif", b"bytes", check=_refuse)
        assert store.list() == [] and not store.exists("q.tif")
        seen = []
        store.publish("q.tif", b"bytes", check=lambda p: seen.append(open(p, "rb").read()))
        assert seen == [b"bytes"] and store.read("q.tif") == b"bytes"
        self.assert_no_temporaries(store)

    def test_publish_file_with_a_failed_check_publishes_nothing(self, store: Store, tmp_path):
        local = tmp_path / "q.tif"
        local.write_bytes(b"corrupt")
        with pytest.raises(ValueError, match="checksum"):
            store.publish_file("q.tif", str(local), check=_refuse)
        assert local.exists() and store.list() == []
        with pytest.raises(ValueError, match="checksum"):
            store.publish_file("q.tif", str(local), check=_refuse, move=True)
        assert not local.exists() and store.list() == []
        self.assert_no_temporaries(store)

    def assert_no_temporaries(self, store: Store) -> None:
        """No temporary is left anywhere under the store."""
        assert not [p for p in store.fs.find(store.url_for()) if is_temporary(p)]

    def test_list_leaves_out_temporaries_and_remove_stale_cleans_dead_ones(self, store: Store):
        store.publish("ledger/a.json", b"{}")
        dead = ".a.json.part-" + temp_name("x").split(".part-")[1].split("-")[0] + "-999999999-0123abcd"
        for name in (dead, "a.json.tmp-" + uuid.uuid4().hex):
            store.fs.pipe_file(store.url_for(f"ledger/{name}"), b"half")
        assert store.list() == ["ledger/a.json"]
        assert store.remove_stale() == 1  # the dead writer's; the legacy one is young
        assert store.remove_stale(max_age=-1) == 1  # older than max_age
        self.assert_no_temporaries(store)

    def test_versioned_objects_follow_gcs_semantics(self, store: Store):
        assert store.get("lease") is None
        g1 = store.create("lease", b"one")
        assert g1 and store.create("lease", b"again") is None
        assert store.get("lease") == type(store.get("lease"))(b"one", g1)
        g2 = store.update("lease", b"two", generation=g1)
        assert g2 and g2 != g1
        assert store.update("lease", b"stale", generation=g1) is None
        assert not store.delete("lease", generation=g1)
        assert store.get("lease").data == b"two" and store.list() == ["lease"]
        assert store.delete("lease", generation=g2)
        assert store.get("lease") is None and store.list() == [] and not store.exists("lease")
        assert store.create("lease", b"new") and store.list() == ["lease"]
        with pytest.raises(StoreError, match="empty"):
            store.create("other", b"")

    def test_create_is_exclusive_among_threads(self, store: Store):
        won, barrier = [], threading.Barrier(8)

        def contend(i: int) -> None:
            barrier.wait()
            if store.create("claim", f"{i}".encode()) is not None:
                won.append(i)

        threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1 and store.get("claim").data == f"{won[0]}".encode()

    def test_update_is_exclusive_among_threads(self, store: Store):
        g = store.create("counter", b"0")
        results, barrier = [], threading.Barrier(8)

        def contend(i: int) -> None:
            barrier.wait()
            results.append(store.update("counter", f"{i}".encode(), generation=g))

        threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len([r for r in results if r is not None]) == 1

    def test_create_is_exclusive_among_processes(self, store: Store):
        if not self.cross_process:
            pytest.skip(f"{type(store).__name__} is exclusive within {store.scope!r} only")
        ctx = multiprocessing.get_context("fork")  # spawn would re-import the library per process
        barrier, won = ctx.Barrier(6), ctx.Queue()
        procs = [
            ctx.Process(target=_create_in_process, args=(store, "claim", i, barrier, won)) for i in range(6)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        assert [p.exitcode for p in procs] == [0] * 6
        winners = [won.get() for _ in range(6)]
        assert len([g for g in winners if g is not None]) == 1

    def test_pickle_round_trip(self, store: Store):
        clone = pickle.loads(pickle.dumps(store))
        assert clone == store and type(clone) is type(store) and clone.url == store.url
        store.publish("k", b"x")
        assert clone.read("k") == b"x"

    def test_child_and_url_for(self, store: Store):
        child = store.child("a", "b")
        child.publish("c.json", b"1")
        assert store.list() == ["a/b/c.json"] and child.list() == ["c.json"]
        assert child.url_for("c.json") == store.url_for("a/b/c.json")
        assert store.url_for("a/b/c.json").startswith(store.url)
        assert child.fs.cat_file(child.url_for("c.json")) == b"1"
        with pytest.raises(StoreError, match="Bad store key"):
            store.url_for("../outside")

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(chunks=st.lists(st.binary(max_size=64), max_size=5), cut=st.integers(0, 5))
    def test_publish_is_all_or_nothing(self, store: Store, chunks, cut):
        key = f"all-or-nothing/{uuid.uuid4().hex[:8]}.bin"
        store.publish(key, b"before")

        def stream():
            for i, chunk in enumerate(chunks):
                if i == cut:
                    raise Cut(f"cut at chunk {i}")
                yield chunk

        if cut < len(chunks):
            with pytest.raises(Cut):
                store.publish(key, stream())
            assert store.read(key) == b"before"
        else:
            store.publish(key, stream())
            assert store.read(key) == b"".join(chunks)
        assert store.list("all-or-nothing/") == [key]
        store.remove(key)

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(
        ops=st.lists(
            st.tuples(
                st.sampled_from(["create", "update", "update-stale", "delete", "delete-stale"]),
                st.sampled_from(["a", "b/c"]),
                st.binary(min_size=1, max_size=8),
            ),
            max_size=12,
        )
    )
    def test_any_sequence_of_conditional_writes_matches_a_model(self, store: Store, ops):
        prefix = f"hyp-{uuid.uuid4().hex[:8]}"
        s = store.child(prefix)
        model: dict[str, tuple[bytes, int]] = {}
        for op, key, data in ops:
            held = model.get(key)
            if op == "create":
                g = s.create(key, data)
                assert (g is None) == (held is not None)
            elif op.startswith("update"):
                gen = (held[1] if held else 1) + (7 if op.endswith("stale") else 0)
                g = s.update(key, data, generation=gen)
                assert (g is not None) == (held is not None and not op.endswith("stale"))
            else:
                gen = (held[1] if held else 1) + (7 if op.endswith("stale") else 0)
                ok = s.delete(key, generation=gen)
                assert ok == (held is not None and not op.endswith("stale"))
                if ok:
                    model.pop(key)
                g = None
            if g is not None:
                assert held is None or g != held[1]
                model[key] = (data, g)
            for k in ("a", "b/c"):
                v = s.get(k)
                assert (v.data, v.generation) == model[k] if k in model else v is None
            assert s.list() == sorted(model)


class TestLocalStore(StoreTests):
    cross_process = True

    @pytest.fixture
    def store(self, tmp_path):
        store = open_store(str(tmp_path / "root"), shared=False)
        assert type(store) is LocalStore and store.local and store.scope == "host"
        return store

    def test_publish_moves_a_file_on_the_same_disk(self, store, tmp_path):
        local = tmp_path / "done.tif"
        local.write_bytes(b"tif")
        inode = local.stat().st_ino
        store.publish_file("q/done.tif", str(local), move=True)
        assert os.stat(store.url_for("q/done.tif")).st_ino == inode

    def test_the_check_runs_on_the_temporary_beside_the_key(self, store):
        seen = []
        store.publish("q/a.tif", b"x", check=seen.append)
        assert os.path.dirname(seen[0]) == os.path.dirname(store.url_for("q/a.tif"))
        assert is_temporary(seen[0])

    def test_a_full_disk_leaves_no_temporary(self, store, monkeypatch):
        def full(fd):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", full)
        with pytest.raises(OSError, match="No space"):
            store.publish("a.json", b"x")
        monkeypatch.undo()
        assert os.listdir(store.url_for()) == []


class TestSharedDiskStore(StoreTests):
    cross_process = True

    @pytest.fixture
    def store(self, tmp_path):
        store = open_store(f"file://{tmp_path}/root", shared=True)
        assert type(store) is SharedDiskStore and store.local and store.scope == "cluster"
        return store

    def test_a_lost_rename_reply_is_not_a_failure(self, store, monkeypatch):
        real = os.replace

        def replace_then_lose_reply(src, dst):
            real(src, dst)
            raise FileNotFoundError(2, "No such file or directory", src)  # NFS retransmission

        monkeypatch.setattr(os, "replace", replace_then_lose_reply)
        store.publish("a.json", b"{}")
        monkeypatch.undo()
        assert store.read("a.json") == b"{}" and store.list() == ["a.json"]

    def test_a_lost_link_reply_is_not_a_failure(self, store, monkeypatch):
        real = os.link

        def link_then_lose_reply(src, dst):
            real(src, dst)
            raise FileExistsError(17, "File exists", dst)

        monkeypatch.setattr(os, "link", link_then_lose_reply)
        g = store.create("lease", b"mine")
        monkeypatch.undo()
        assert g == 1 and store.get("lease").data == b"mine"


class TestMemoryStore(StoreTests):
    @pytest.fixture
    def store(self):
        store = open_store(f"memory://store-tests-{uuid.uuid4().hex}")
        assert type(store) is MemoryStore and not store.local and store.scope == "process"
        yield store
        store.remove("", recursive=True)


@pytest.mark.gcs
class TestGCSStore(StoreTests):
    """fake-gcs-server: it honours ``ifGenerationMatch``, which the conformance suite needs."""

    cross_process = True

    @pytest.fixture
    def store(self, fake_gcs):
        from globalmap_support import gcs_options, new_bucket

        store = open_store(f"{new_bucket(fake_gcs)}/run/x", gcs_options(fake_gcs))
        assert type(store) is GCSStore and not store.local and store.scope == "cluster"
        return store

    def assert_no_temporaries(self, store):
        names = [b.name for b in store.bucket.client.list_blobs(store.bucket_name)]
        assert not [n for n in names if is_temporary(n)], names

    def test_a_corrupted_upload_is_not_published(self, store, monkeypatch):
        from google.cloud.storage import Blob

        real = Blob.upload_from_filename

        def truncated(self, filename, **kw):  # the network lost the tail, the upload "succeeded"
            with open(filename, "rb") as f:
                self.upload_from_string(f.read()[:-1])

        monkeypatch.setattr(Blob, "upload_from_filename", truncated)
        with pytest.raises(StoreError, match="nothing was published"):
            store.publish("q.tif", [b"complete bytes"])
        monkeypatch.setattr(Blob, "upload_from_filename", real)
        assert store.list() == []
        self.assert_no_temporaries(store)


@pytest.mark.gcs
def test_gcs_store_honours_storage_emulator_host(gcs_bucket):
    store = open_store(f"{gcs_bucket}/data")
    assert store.storage_options["endpoint_url"] == os.environ["STORAGE_EMULATOR_HOST"]
    store.publish("a/b.bin", [b"re", b"ef"])
    with pytest.raises(Cut):
        store.publish("a/c.bin", _cut_stream())
    assert store.list() == ["a/b.bin"] and store.read("a/b.bin") == b"reef"
    fs = store.fs
    fs.invalidate_cache()
    assert fs.cat_file(store.url_for("a/b.bin")) == b"reef"  # what xarray/zarr get
    assert "anon" in repr(store) and pickle.loads(pickle.dumps(store)) == store


def test_gcs_store_repr_hides_its_token():
    store = open_store("gs://bucket/p", {"token": "/home/me/sa.json", "project": "p"})
    assert "sa.json" not in repr(store) and "sa.json" not in str(store) and "***" in repr(store)
    assert pickle.loads(pickle.dumps(store)).storage_options["token"] == "/home/me/sa.json"


def test_unknown_schemes_are_refused_with_the_supported_ones():
    with pytest.raises(StoreError, match=r"ftp://host/x.*gs://") as err:
        open_store("ftp://host/x")
    assert isinstance(err.value, ReefdaskError)


def test_repr_never_shows_secrets():
    from reefdask.io.store import redact

    opts = {"token": {"private_key": "-----BEGIN"}, "project": "p", "access_key": "AKIA"}
    assert "BEGIN" not in repr(redact(opts)) and "AKIA" not in repr(redact(opts))
    assert repr(open_store("/tmp/x", shared=False)) == "LocalStore('/tmp/x')"
    assert str(open_store("file:///tmp/x", shared=False)) == "/tmp/x"  # str is the root, like pathlib


def test_write_bytes_atomic_is_the_store_publish_and_cleans_up_after_an_error(tmp_path, monkeypatch):
    from reefdask.io.storage import write_bytes_atomic

    url = str(tmp_path / "ledger" / "a.json")
    write_bytes_atomic(url, b"one")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        write_bytes_atomic(url, b"two")
    monkeypatch.undo()
    assert (
        os.listdir(tmp_path / "ledger") == ["a.json"]
        and (tmp_path / "ledger" / "a.json").read_bytes() == b"one"
    )


def test_remove_stale_removes_temporary_folders_of_dead_writers(tmp_path):
    store = open_store(str(tmp_path), shared=False)
    dead = tmp_path / temp_name("cog").replace(f"-{os.getpid()}-", "-999999999-")
    dead.mkdir()
    (dead / "staging.tif").write_bytes(b"half")
    (tmp_path / temp_name("alive")).write_bytes(b"being written")
    assert store.remove_stale() == 1 and not dead.exists() and store.list() == []


def _publish_forever(root: str) -> None:
    def stream():
        yield b"half a record"
        threading.Event().wait()  # killed here, mid-publish

    open_store(root, shared=False).publish("_ledger/a.json", stream())


def test_a_killed_writer_leaves_a_temporary_that_list_ignores_and_remove_stale_removes(tmp_path):
    import signal
    import time

    store = open_store(str(tmp_path), shared=False)
    proc = multiprocessing.get_context("fork").Process(target=_publish_forever, args=(str(tmp_path),))
    proc.start()
    while not (tmp_path / "_ledger").is_dir() or not os.listdir(tmp_path / "_ledger"):
        assert proc.is_alive()
        time.sleep(0.01)
    assert store.remove_stale() == 0  # its writer is alive: not stale
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    (left,) = os.listdir(tmp_path / "_ledger")
    assert is_temporary(left) and f"-{proc.pid}-" in left and store.list() == []
    assert store.remove_stale() == 1 and os.listdir(tmp_path / "_ledger") == []
