"""reefdask.cube: Zarr v3 cubes from real GeoTIFFs, resumable after a SIGKILL, on local,
memory:// and gs:// stores."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from reefdask import __version__
from reefdask.cube import CUBE_KEY, STATUS_KEY, ingest, list_scenes, open_cube, scene_id
from reefdask.errors import ConfigError, IncompatibleScenesError, StoreError
from reefdask.io import open_imagery
from reefdask.io.storage import filesystem
from tests.test_io import expected_rgb, rgba, write_tif

QUADS = ["L15-0100E-0456N", "L15-0101E-0456N", "L15-0102E-0456N", "L15-0103E-0456N"]


def make_quads(folder: Path, n: int = 3, size: tuple[int, int] = (70, 90)) -> dict[str, np.ndarray]:
    """n RGBA quads named as providers name them; returns scene id -> source array."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, q in enumerate(QUADS[:n]):
        data = rgba(100 + i, *size)
        write_tif(folder / f"{q}.tif", data)
        out[q] = data
    return out


def assert_cube_equals(store, arrays: dict[str, np.ndarray], **kw) -> None:
    for sid, data in arrays.items():
        np.testing.assert_array_equal(open_cube(store, sid, **kw).values, expected_rgb(data))


def test_scene_ids() -> None:
    assert scene_id("gs://b/mosaic/belize/L15-0123E-0456N.tif") == "L15-0123E-0456N"
    assert scene_id("/d/reef site.tiff") == "reef_site"
    assert scene_id("memory://x/mosaic.vrt") == "mosaic"
    assert scene_id("L15-99999E-1N.tif") == "L15-99999E-1N"  # not a quad id: the stem


def test_ingest_layout_metadata_and_plain_xarray(tmp_path: Path) -> None:
    arrays = make_quads(tmp_path / "imagery" / "belize")
    store = tmp_path / "cube.zarr"
    report = ingest(tmp_path / "imagery", store, chunk=32)
    assert report.ok and sorted(report.written) == sorted(arrays) and report.skipped == []
    assert report.bytes_written == sum(3 * 70 * 90 for _ in arrays)
    assert list_scenes(store) == sorted(arrays)
    assert_cube_equals(store, arrays)

    sid = QUADS[0]
    plain = xr.open_zarr(store, group=sid, consolidated=False, zarr_format=3)
    assert plain.imagery.dims == ("band", "y", "x") and plain.imagery.dtype == np.uint8
    assert plain.imagery.rio.crs.to_epsg() == 3857  # spatial_ref is a coordinate
    src = open_imagery(tmp_path / "imagery" / "belize" / f"{sid}.tif")
    assert plain.imagery.rio.transform().almost_equals(src.rio.transform())
    attrs = plain.attrs
    assert STATUS_KEY not in attrs and attrs["reefdask_version"] == __version__  # the record marks completion
    assert attrs["reefdask_source"].endswith(f"{sid}.tif") and attrs["reefdask_scene"] == sid
    done = json.loads((store / "_ingest" / f"{sid}.done.json").read_bytes())
    assert done["status"] == "done" and done["info"]["source"].endswith(f"{sid}.tif")
    assert attrs["band_names"] == ["red", "green", "blue"] and attrs["nodata"] == 0
    assert attrs["transform"] == list(src.rio.transform())[:6]
    array = zarr.open_array(str(store), path=f"{sid}/imagery", mode="r")
    assert array.metadata.zarr_format == 3 and array.chunks == (3, 32, 32)
    root = zarr.open_group(str(store), mode="r")
    assert root.attrs[CUBE_KEY]["band_names"] == ["red", "green", "blue"]

    da = open_cube(store, sid, chunks=64)
    assert da.chunks[0] == (3,) and da.attrs["nodata"] == 0 and da.rio.crs.to_epsg() == 3857
    np.testing.assert_array_equal(open_imagery(f"{store}/{sid}", bands="blue").values, da.values[[2]])
    with pytest.raises(ConfigError, match="3 complete scenes"):
        open_cube(store)
    with pytest.raises(ConfigError, match="no scene"):
        open_cube(store, "L15-0999E-0999N")


def test_rerun_skips_complete_scenes_and_overwrite_redoes_them(tmp_path: Path) -> None:
    arrays = make_quads(tmp_path / "src", n=2)
    store = tmp_path / "c.zarr"
    ingest(tmp_path / "src", store, chunk=40)
    again = ingest(tmp_path / "src", store, chunk=40)
    assert again.written == [] and sorted(again.skipped) == sorted(arrays)
    extra = make_quads(tmp_path / "src", n=3)  # one new scene appears
    third = ingest(str(tmp_path / "src" / "*.tif"), store, chunk=40)
    assert third.written == [QUADS[2]] and len(third.skipped) == 2
    redo = ingest(tmp_path / "src", store, chunk=40, overwrite=True)
    assert sorted(redo.written) == sorted(extra) and redo.skipped == []
    assert_cube_equals(store, extra)


def test_same_quad_in_two_regions_is_ingested_once(tmp_path: Path) -> None:
    arrays = make_quads(tmp_path / "belize", n=1)
    make_quads(tmp_path / "honduras", n=1)
    report = ingest([tmp_path / "belize", tmp_path / "honduras"], tmp_path / "c.zarr", chunk=64)
    assert report.written == [QUADS[0]]
    assert list(report.duplicates.values()) == [QUADS[0]]
    assert_cube_equals(tmp_path / "c.zarr", arrays)


def test_incompatible_scenes_are_refused_before_writing(tmp_path: Path) -> None:
    make_quads(tmp_path / "src", n=1)
    write_tif(tmp_path / "src" / "L15-0200E-0456N.tif", np.zeros((1, 40, 40), "int16"), nodata=-9999)
    store = tmp_path / "c.zarr"
    with pytest.raises(IncompatibleScenesError, match="L15-0200E-0456N.*bands.*another store"):
        ingest(tmp_path / "src", store, chunk=32)
    assert list_scenes(store, complete_only=False) == []
    # against an existing cube: its recorded bands win
    ingest(tmp_path / "src" / f"{QUADS[0]}.tif", store, chunk=32)
    with pytest.raises(IncompatibleScenesError, match="the cube"):
        ingest(tmp_path / "src" / "L15-0200E-0456N.tif", store, chunk=32)
    utm = write_tif(tmp_path / "utm.tif", rgba(3, 40, 40), crs="EPSG:32616")
    with pytest.raises(IncompatibleScenesError, match="reproject"):
        ingest(utm, store, chunk=32)
    assert list_scenes(store, complete_only=False) == [QUADS[0]]


@pytest.mark.parametrize("cluster", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_bad_sources_are_recorded_and_the_run_goes_on(tmp_path: Path, cluster: bool) -> None:
    """Also on worker processes: the corrupt-read error must come back as itself, not a bare Exception."""
    arrays = make_quads(tmp_path / "src", n=1)
    (tmp_path / "src" / "notes.tif").write_text("not a raster")
    big = write_tif(tmp_path / "full.tif", rgba(8, 256, 256))
    blob = Path(big).read_bytes()
    (tmp_path / "src" / "L15-0300E-0456N.tif").write_bytes(blob[: len(blob) // 2])  # truncated
    sources = [*sorted(str(p) for p in (tmp_path / "src").iterdir()), str(tmp_path / "missing.tif")]
    if cluster:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as lc, Client(lc) as c:
            report = ingest(sources, tmp_path / "c.zarr", chunk=64, client=c)
    else:
        report = ingest(sources, tmp_path / "c.zarr", chunk=64)
    assert report.written == [QUADS[0]] and not report.ok
    assert set(report.failed) == {"notes", "L15-0300E-0456N", "missing"}
    assert "does not exist" in report.failed["missing"] and "notes.tif" in report.failed["notes"]
    assert "L15-0300E-0456N" in report.failed["L15-0300E-0456N"]
    assert list_scenes(tmp_path / "c.zarr") == [QUADS[0]]  # the truncated scene never reads as done
    with pytest.raises(StoreError, match="incomplete"):
        open_cube(tmp_path / "c.zarr", "L15-0300E-0456N")
    assert_cube_equals(tmp_path / "c.zarr", arrays)
    assert "1 written" in report.summary() and json.dumps(report.to_dict())


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import reefdask.cube.ingestion as ci
    import reefdask.io.rasters as rio_

    sources, store, victim, where = sys.argv[1].split(","), sys.argv[2], sys.argv[3], sys.argv[4]
    if where == "before-mark":  # every chunk of the victim is written, its record is not
        original_mark = ci._scene_written

        def mark(sid, written):
            if sid == victim:
                os.kill(os.getpid(), signal.SIGKILL)
            return original_mark(sid, written)

        ci._scene_written = mark
    else:  # killed in the middle of the victim's data
        original_read = rio_._read_block
        seen = []

        def read(source, block_info=None):
            if victim in source.url:
                seen.append(1)
                if len(seen) == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
            return original_read(source, block_info)

        rio_._read_block = read
    ci.ingest(sources, store, chunk=32, batch_size=1)
    print("survived")
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["before-mark", "mid-data"])
def test_sigkill_mid_run_then_rerun_completes(tmp_path: Path, where: str) -> None:
    arrays = make_quads(tmp_path / "src", n=4, size=(64, 96))
    sources = [str(tmp_path / "src" / f"{q}.tif") for q in QUADS]
    store = str(tmp_path / "c.zarr")
    victim = QUADS[2]
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run(
        [sys.executable, str(script), ",".join(sources), store, victim, where],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert list_scenes(store) == QUADS[:2]  # finished before the kill
    assert victim in list_scenes(store, complete_only=False)  # half-written, not complete
    with pytest.raises(StoreError, match="interrupted"):
        open_cube(store, victim)

    report = ingest(sources, store, chunk=32)
    assert sorted(report.skipped) == QUADS[:2]
    assert sorted(report.written) == [victim, QUADS[3]]
    assert report.resumed == [victim] and "1 resumed" in report.summary()
    assert list_scenes(store) == QUADS
    assert_cube_equals(store, arrays)


def test_memory_store_on_a_local_cluster(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    arrays = make_quads(tmp_path / "src", n=2)
    fs, _ = filesystem("memory://")
    for q in arrays:
        fs.pipe_file(f"/cube-test/src/{q}.tif", (tmp_path / "src" / f"{q}.tif").read_bytes())
    store = "memory://cube-test/cube.zarr"
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            report = ingest("memory://cube-test/src/*.tif", store, chunk=32, client=client)
    assert sorted(report.written) == sorted(arrays)
    assert list_scenes(store) == sorted(arrays)
    assert_cube_equals(store, arrays)
    plain = xr.open_zarr(store, group=QUADS[1], consolidated=False, zarr_format=3)
    np.testing.assert_array_equal(plain.imagery.values, expected_rgb(arrays[QUADS[1]]))


@pytest.mark.gcs
@pytest.mark.slow
def test_gcs_sources_and_store_on_a_process_cluster(gcs_bucket: str, tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    arrays = make_quads(tmp_path / "src", n=2)
    fs, _ = filesystem(gcs_bucket)
    bucket = gcs_bucket.removeprefix("gs://")
    for q in arrays:
        fs.put_file(str(tmp_path / "src" / f"{q}.tif"), f"{bucket}/mosaic/belize/{q}.tif")
    fs.invalidate_cache()
    store = f"{gcs_bucket}/cubes/belize.zarr"
    sources = [f"{gcs_bucket}/mosaic/belize/{q}.tif" for q in arrays]
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
        with Client(cluster):  # the active client is used
            report = ingest(sources, store, chunk=32, compression="deflate")
    assert sorted(report.written) == sorted(arrays)
    fs.invalidate_cache()
    assert list_scenes(store) == sorted(arrays)
    assert_cube_equals(store, arrays)
    assert ingest(sources, store, chunk=32).skipped == sorted(arrays)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.integers(16, 100), height=st.integers(20, 90), width=st.integers(20, 90))
def test_any_chunking_round_trips(tmp_path: Path, chunk: int, height: int, width: int) -> None:
    name = f"{chunk}_{height}_{width}"
    data = rgba(chunk, height, width)
    write_tif(tmp_path / f"s{name}.tif", data)
    store = tmp_path / f"c{name}.zarr"
    ingest(tmp_path / f"s{name}.tif", store, chunk=chunk)
    da = open_cube(store)
    assert da.encoding["chunks"] == (3, chunk, chunk)  # one chunk grid for every scene of a cube
    np.testing.assert_array_equal(da.values, expected_rgb(data))


def test_cli_ingest(tmp_path: Path) -> None:
    from reefdask.cli import app

    arrays = make_quads(tmp_path / "src", n=2)
    runner = CliRunner()
    store = str(tmp_path / "c.zarr")
    result = runner.invoke(app, ["ingest", str(tmp_path / "src"), "--store", store, "--chunk", "48"])
    assert result.exit_code == 0, result.output
    assert "2 written, 0 already complete, 0 failed" in result.output
    result = runner.invoke(app, ["ingest", str(tmp_path / "src"), "--store", store, "--json"])
    assert result.exit_code == 0 and sorted(json.loads(result.output)["skipped"]) == sorted(arrays)
    result = runner.invoke(app, ["ingest", str(tmp_path / "nope.tif"), "--store", store])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_ingest_never_holds_more_than_a_chunk(tmp_path: Path) -> None:
    """Invariant 1: every task of the ingest graph returns at most one chunk of all bands."""
    from dask.callbacks import Callback

    write_tif(tmp_path / "big.tif", rgba(4, 200, 260))
    sizes: list[int] = []

    class Sizes(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            sizes.append(int(getattr(result, "nbytes", 0)))

    with Sizes():
        report = ingest(tmp_path / "big.tif", tmp_path / "c.zarr", chunk=64)
    assert report.written == ["big"] and len(sizes) > 16
    assert max(sizes) <= 3 * 64 * 64  # a chunk, never the 3 x 200 x 260 scene


def test_synthetic_quads_ingest(tmp_path: Path) -> None:
    from reefdask.synthetic import synth_quads

    quads = synth_quads(tmp_path / "synth", quads=2, size=96, seed=3)
    report = ingest([q.image for q in quads], tmp_path / "c.zarr", chunk=64)
    assert sorted(report.written) == sorted(str(q.quad) for q in quads)
    for q in quads:
        cube = open_cube(tmp_path / "c.zarr", str(q.quad))
        src = open_imagery(q.image)
        assert cube.attrs["band_names"] == ["red", "green", "blue"]
        assert cube.rio.transform().almost_equals(q.quad.transform(size=96))
        np.testing.assert_array_equal(cube.values, src.values)


@pytest.mark.parametrize("with_client", [False, True], ids=["threads", "client"])
def test_ingest_reports_progress_once_per_scene(tmp_path: Path, with_client: bool) -> None:
    from distributed import Client

    arrays = make_quads(tmp_path / "src", n=3)
    write_tif(tmp_path / "src" / "L15-0104E-0456N.tif", rgba(1, 70, 90)[:, :, :50])  # other shape: fine
    calls: list[tuple[str | None, int]] = []
    store = tmp_path / "c.zarr"
    if with_client:
        with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as client:
            report = ingest(
                tmp_path / "src", store, chunk=32, client=client, progress=lambda *a: calls.append(a)
            )
    else:
        report = ingest(tmp_path / "src", store, chunk=32, progress=lambda *a: calls.append(a))
    assert report.ok and len(report.written) == len(arrays) + 1
    assert calls[0] == (None, 4)  # the work is announced first
    assert sorted(sid for sid, _ in calls[1:]) == sorted(report.written) and {n for _, n in calls} == {4}
    calls.clear()
    ingest(tmp_path / "src", store, chunk=32, progress=lambda *a: calls.append(a))
    assert calls == [(None, 0)]  # a rerun has nothing to write


def test_cli_ingest_shows_a_progress_bar(tmp_path: Path) -> None:
    from reefdask.cli import app

    make_quads(tmp_path / "src", n=2)
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "src"), "--store", str(tmp_path / "c.zarr")])
    assert result.exit_code == 0, result.output
    assert re.search(r"ingest .*2/2", result.output), result.output  # the bar's last state, then the summary
    assert "2 written" in result.output.splitlines()[-1]


def _scene_pixels(store, sid) -> int:
    return int(np.count_nonzero(open_cube(store, sid).values))


def test_a_second_ingest_leaves_a_scene_being_written_to_its_job(tmp_path: Path, monkeypatch) -> None:
    """Job B starts while job A is writing scene S: B must neither wipe S nor mark it (the lost-scene bug)."""
    import threading

    import reefdask.cube.ingestion as ci

    arrays = make_quads(tmp_path / "src", n=4, size=(96, 128))
    store = tmp_path / "c.zarr"
    victim = QUADS[1]
    reached, go = threading.Event(), threading.Event()
    original = ci._scene_written

    def paused(sid, written):
        if sid == victim and not go.is_set():
            reached.set()
            go.wait(120)
        return original(sid, written)

    monkeypatch.setattr(ci, "_scene_written", paused)
    out: dict[str, ci.IngestReport] = {}
    job_a = threading.Thread(target=lambda: out.setdefault("a", ingest(tmp_path / "src", store, chunk=32,
                                                                             batch_size=1)))  # fmt: skip
    job_a.start()
    assert reached.wait(120)  # every chunk of the victim is written by A, its record is not
    b = ingest(tmp_path / "src", store, chunk=32, batch_size=1)
    go.set()
    job_a.join(120)
    a = out["a"]
    assert a.ok and b.ok, (a.failed, b.failed)
    assert b.held == [victim] and victim not in b.written  # B left the victim to A
    assert a.written == QUADS[:2] and sorted(b.written) == QUADS[2:]  # every scene written once
    assert sorted(a.skipped) == QUADS[2:]  # A found B's scenes finished when it came to them
    assert list_scenes(store) == QUADS
    assert_cube_equals(store, arrays)
    assert _scene_pixels(store, victim) == np.count_nonzero(expected_rgb(arrays[victim]))


@pytest.mark.parametrize("how", ["threads", "processes"])
def test_two_concurrent_ingests_into_one_cube(tmp_path: Path, how: str) -> None:
    """Two plain concurrent runs: no OSError, every scene complete with its pixels, each written once."""
    import threading

    arrays = make_quads(tmp_path / "src", n=4, size=(128, 160))
    store = tmp_path / "c.zarr"
    if how == "threads":
        import distributed  # noqa: F401  (two threads importing it at once trip CPython's circular import)

        barrier = threading.Barrier(2)
        reports: list = []

        def job() -> None:
            barrier.wait()
            reports.append(ingest(tmp_path / "src", store, chunk=32, batch_size=1).to_dict())

        threads = [threading.Thread(target=job) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    else:
        code = (
            "import json, sys; from reefdask.cube import ingest; "
            "print(json.dumps(ingest(sys.argv[1], sys.argv[2], chunk=32, batch_size=1).to_dict()))"
        )
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        procs = [
            subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "src"), str(store)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(2)
        ]  # fmt: skip
        reports = []
        for p in procs:
            stdout, stderr = p.communicate(timeout=300)
            assert p.returncode == 0, stderr[-3000:]
            reports.append(json.loads(stdout.strip().splitlines()[-1]))
    assert len(reports) == 2 and all(not r["failed"] for r in reports), reports
    written = [sid for r in reports for sid in r["written"]]
    assert sorted(written) == QUADS, reports  # each scene written by exactly one job
    for r in reports:
        assert set(r["written"]) | set(r["skipped"]) | set(r["held"]) == set(QUADS)
    assert list_scenes(store) == QUADS
    assert_cube_equals(store, arrays)


FROZEN = textwrap.dedent(
    """
    import json, os, signal, sys
    import reefdask.cube.ingestion as ci

    ci.CLAIM_TTL = 1.0
    original = ci._scene_written

    def freeze(sid, written):  # the whole process stops (its claim renewals too), as a hung host would
        if sid == sys.argv[3]:
            os.kill(os.getpid(), signal.SIGSTOP)
        return original(sid, written)

    ci._scene_written = freeze
    print(json.dumps(ci.ingest(sys.argv[1], sys.argv[2], chunk=32, batch_size=1).to_dict()))
    """
)


@pytest.mark.slow
def test_a_frozen_job_whose_claim_was_taken_over_records_nothing(tmp_path: Path) -> None:
    """Fencing: A freezes past its claim ttl; B takes the scene over; A, thawed, records nothing."""
    import signal
    import time

    arrays = make_quads(tmp_path / "src", n=2, size=(64, 96))
    store = tmp_path / "c.zarr"
    victim = QUADS[0]
    script = tmp_path / "frozen.py"
    script.write_text(FROZEN)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "src"), str(store), victim],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), "the job ended before it froze"
        time.sleep(2.0)  # past A's 1 s ttl: its claim is free for the taking
        b = ingest(tmp_path / "src", store, chunk=32, batch_size=1)
        assert b.ok and sorted(b.written) == QUADS[:2]
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    stdout, _ = proc.communicate(timeout=300)
    a = json.loads(stdout.strip().splitlines()[-1])
    assert "taken over" in a["failed"][victim] and a["written"] == []
    done = json.loads((store / "_ingest" / f"{victim}.done.json").read_bytes())
    assert done["pid"] != proc.pid  # the record is B's
    assert list_scenes(store) == QUADS[:2]
    assert_cube_equals(store, arrays)


def test_cubes_written_before_the_work_layer_still_read(tmp_path: Path) -> None:
    """Old cubes marked completion in the scene attribute ``reefdask_status``: they still read and resume."""
    import shutil

    arrays = make_quads(tmp_path / "src", n=2)
    store = tmp_path / "c.zarr"
    ingest(tmp_path / "src", store, chunk=32)
    shutil.rmtree(store / "_ingest")  # as an old ingest left it: no records, status attributes
    zarr.open_group(str(store), path=QUADS[0], mode="r+").attrs[STATUS_KEY] = "complete"
    zarr.open_group(str(store), path=QUADS[1], mode="r+").attrs[STATUS_KEY] = "writing"
    assert list_scenes(store) == [QUADS[0]]
    np.testing.assert_array_equal(open_cube(store, QUADS[0]).values, expected_rgb(arrays[QUADS[0]]))
    np.testing.assert_array_equal(open_imagery(f"{store}/{QUADS[0]}").values, expected_rgb(arrays[QUADS[0]]))
    with pytest.raises(StoreError, match="incomplete"):
        open_cube(store, QUADS[1])
    report = ingest(tmp_path / "src", store, chunk=32)
    assert report.skipped == [QUADS[0]] and report.written == [QUADS[1]] and report.resumed == [QUADS[1]]
    assert list_scenes(store) == QUADS[:2]
    assert_cube_equals(store, arrays)
