import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from globalmap_support import make_model, make_quads

from reefdask.config import load_config
from reefdask.core.grid import Quad
from reefdask.errors import FingerprintMismatchError
from reefdask.globalmap.config import GlobalConfig
from reefdask.globalmap.mapstore import MapStore
from reefdask.globalmap.plan import open_run
from reefdask.globalmap.progress import progress
from reefdask.globalmap.quad import QuadTask, RunSpec, process_quad
from reefdask.globalmap.run import run_job
from reefdask.globalmap.statuses import JOBS, QUADS, failure_reasons, quad_work, read_statuses
from reefdask.io.store import open_store
from reefdask.synthetic import synth_quads, write_corrupt_quad

pytestmark = pytest.mark.tf

BLOCK = 16  # a 4 x 4 block of 64-px quads
NO_REEF = "L15-0535E-1123N"  # all deep water, no neighbours
CORRUPT = "L15-0540E-1123N"  # truncated GeoTIFF
NODATA = "L15-0545E-1123N"  # alpha 0 everywhere
OUTSIDE = "L15-0100E-1500N"  # far outside the domain box
MISSING = "L15-0550E-1123N"  # listed, never written
DOMAIN = [-90.0, 15.0, -82.0, 19.0]  # lon/lat box around the Belize block


def _nodata_quad(path: Path, quad: str, size: int = 64) -> str:
    q = Quad.parse(quad)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=4,
        dtype="uint8",
        crs="EPSG:3857",
        transform=q.transform(size=size),
        photometric="RGB",
        alpha="YES",
    ) as f:
        f.write(np.zeros((4, size, size), "uint8"))
    return str(path)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Imagery of every kind of quad, a tiny model and the inventory (list of .tif paths)."""
    root = tmp_path_factory.mktemp("global")
    block = make_quads(root, n=BLOCK, size=64)
    odd = synth_quads(root, quads=[NO_REEF, OUTSIDE], size=64, kinds={NO_REEF: "no_reef"})
    img = root / "imagery" / "belize"
    corrupt = write_corrupt_quad(img / f"{CORRUPT}.tif", CORRUPT, size=64)
    nodata = _nodata_quad(img / f"{NODATA}.tif", NODATA)
    sources = [s.image for s in block + odd] + [corrupt, nodata, str(img / f"{MISSING}.tif")]
    model = make_model(root / "models" / "tiny.keras")
    return {"root": root, "sources": sources, "model": model, "block": [s.quad.id for s in block]}


def _config(world, run, **kw):
    data = {
        "run": str(run),
        "models": [world["model"]],
        "inventory": world["sources"],
        "domain": DOMAIN,
        "lease_seconds": 5,
        "batch": 2,
        **kw,
    }
    return data


def _cfg(data):
    return load_config(data, GlobalConfig)


def _products(run, quads):
    ms = MapStore(os.path.join(run, "map.zarr"))
    return {(q, name): ms.read(name, Quad.parse(q)) for q in quads for name in ms.products()}


@pytest.fixture(scope="module")
def reference(world, tmp_path_factory):
    """One uninterrupted single-job run."""
    run = tmp_path_factory.mktemp("ref") / "run"
    report = run_job(_cfg(_config(world, run)), log=lambda s: None)
    return run, report


def test_statuses_of_every_kind(reference, world):
    run, _ = reference
    st = read_statuses(open_store(str(run)))
    assert len(st) == BLOCK + 5
    assert {q: s for q, s in st.items() if q not in world["block"]} == {
        NO_REEF: "no_reef",
        CORRUPT: "corrupt",
        NODATA: "nodata",
        OUTSIDE: "out_of_domain",
        MISSING: "missing",
    }
    assert {st[q] for q in world["block"]} == {"done"}
    reasons = failure_reasons(open_store(str(run)))
    assert "corrupt" in reasons[CORRUPT]["error"] and "Read failed" in reasons[CORRUPT]["error"]
    assert reasons[MISSING]["status"] == "missing" and set(reasons) == {CORRUPT, MISSING}
    # the statuses are work records: status in the name, the job in the body
    records = sorted(os.listdir(run / QUADS))
    assert f"{CORRUPT}.failed.permanent.json" in records and f"{NO_REEF}.skipped.no_reef.json" in records
    assert f"{MISSING}.failed.missing.json" in records
    assert {r.owner for r in _records(run).values()} == {reference[1].job}
    # no_reef and nodata quads write nothing: their chunks do not exist
    rows, cols = MapStore(str(run / "map.zarr")).grid().region(Quad.parse(NO_REEF))
    size = rows.stop - rows.start
    assert not (run / "map.zarr" / "heat" / "c" / str(rows.start // size) / str(cols.start // size)).exists()
    q = Quad.parse(world["block"][0])
    rows, cols = MapStore(str(run / "map.zarr")).grid().region(q)
    assert (run / "map.zarr" / "heat" / "c" / str(rows.start // size) / str(cols.start // size)).exists()


def test_out_of_domain_is_decided_before_any_model(world):
    spec = RunSpec(
        map_store=open_store("memory://nowhere/map.zarr"), members=(), schema={}, quad_size=64, halo=2,
        products=("heat",),
    )  # fmt: skip
    res = process_quad(QuadTask(OUTSIDE, "/nonexistent/source.tif", {}, in_domain=False), spec)
    assert res.status == "out_of_domain" and not res.computed  # no model, no source was touched


def test_rerun_of_a_finished_run_does_nothing_and_says_so(reference, world):
    run, _ = reference
    said = []
    again = run_job(_cfg(_config(world, run)), log=said.append)
    assert again.nothing_to_do and not again.computed
    assert "nothing to do" in said[-1]


def test_another_model_is_refused(reference, world, tmp_path):
    run, _ = reference
    other = make_model(tmp_path / "other.keras", seed=3)
    with pytest.raises(FingerprintMismatchError, match="new run URL"):
        open_run(_cfg({**_config(world, run), "models": [other]}))


@pytest.mark.slow
def test_progress_agrees_with_the_store(reference, world, tmp_path):
    run, _ = reference
    p = progress(str(run))
    listing = read_statuses(open_store(str(run)))
    assert p["total"] == p["finished"] == len(listing) == BLOCK + 5
    assert p["counts"]["done"] == BLOCK and p["counts"]["corrupt"] == 1 and p["remaining"] == 0
    assert set(p["failures"]) == {CORRUPT, MISSING}
    assert p["regions"]["belize"]["done"] == BLOCK
    assert p["leases"]["live"] == 0
    png = tmp_path / "map.png"
    out = subprocess.run(
        [sys.executable, "-m", "reefdask.cli", "global", "progress", str(run), "--json", "--map", str(png)],
        capture_output=True,
        text=True,
        check=True,
    )
    cli = json.loads(out.stdout)
    assert cli["counts"] == p["counts"] and cli["statuses"] == p["statuses"]
    assert png.stat().st_size > 1000


def _write_config(world, run, path, **kw):
    path.write_text(yaml.safe_dump(_config(world, run, **kw)))
    return str(path)


def _start_job(config):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        [sys.executable, "-m", "reefdask.cli", "global", "run", config],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _job_reports(run):
    """The reports of the jobs that ended (a working job publishes its report now and then)."""
    reports = [json.loads(p.read_text()) for p in (Path(run) / JOBS).glob("*.json")]
    return [r for r in reports if r["finished"]]


def _assert_same_products(run, reference, world):
    quads = world["block"]
    a, b = _products(str(run), quads), _products(str(reference[0]), quads)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=str(k))


def _records(run):
    """``{quad: record}``: each quad's strongest work record (a read each)."""
    work = quad_work(open_store(str(run)))
    return {q: work.records.read(e.names[0]) for q, e in work.records.scan().items()}


def _statuses_by_job(run):
    out = {}
    for q, rec in _records(run).items():
        out.setdefault(rec.owner, set()).add(q)
    return out


def _claims(run):
    """``{quad: claim body}`` of every claim left in the run (live or not)."""
    work = quad_work(open_store(str(run)))
    prefix = f"{QUADS}/_claims/"
    keys = work.store.list(prefix)
    return {k[len(prefix) :]: work.claims.holder(k[len(prefix) :]) for k in keys}


@pytest.mark.slow
def test_two_jobs_share_the_run_and_survive_a_sigkill(world, reference, tmp_path):
    """Two concurrent job processes; one is SIGKILLed mid-run; the other takes over its expired leases."""
    run = tmp_path / "run"
    config = _write_config(world, run, tmp_path / "global.yaml", batch=3)
    jobs = [_start_job(config), _start_job(config)]
    deadline, first = time.monotonic() + 300, None
    # Both jobs must be working before one is killed. Their start-up (imports) varies more than a
    # small run lasts, so the first job to record a quad is paused (SIGSTOP) until the other records one.
    while len(by_job := _statuses_by_job(run) if (run / "run.json").exists() else {}) < 2:
        assert time.monotonic() < deadline and all(j.poll() is None for j in jobs)
        if first is None and by_job:
            owner = next(iter(by_job))
            first = next(j for j in jobs if f"-{j.pid}-" in owner)
            os.kill(first.pid, signal.SIGSTOP)
        time.sleep(0.05)
    a = first or jobs[0]  # the job that is killed (a paused one can be killed as well)
    b = next(j for j in jobs if j is not a)
    os.kill(a.pid, signal.SIGKILL)
    a.wait()
    orphans = {q for q, h in _claims(run).items() if h and f"-{a.pid}-" in h["owner"]}
    out = b.communicate(timeout=300)[0]
    assert b.returncode == 0, out
    # every quad ends with exactly one record
    listing = quad_work(open_store(str(run))).records.scan()
    assert len(listing) == BLOCK + 5 and all(len(e.names) == 1 for e in listing.values())
    # no quad computed twice while both jobs lived: what the killed job recorded, the other never computed
    by_job = _statuses_by_job(run)
    (report,) = _job_reports(run)
    survivor = report["job"]
    killed = next(j for j in by_job if j != survivor)
    assert not by_job[killed] & set(report["computed"])
    assert len(report["computed"]) == len(set(report["computed"]))
    assert f"-{a.pid}-" in killed
    # the killed job's claims (a batch in progress) were taken over and the survivor mapped those quads
    assert orphans <= by_job[survivor], (orphans, by_job)
    assert progress(str(run))["leases"]["live"] == 0 and not _claims(run)  # finished quads: no claim left
    # and the map equals an uninterrupted single-job run, bit for bit
    _assert_same_products(run, reference, world)


def test_cli_run_validates_and_prints_the_job_command(world, tmp_path):
    from typer.testing import CliRunner

    from reefdask.cli import app

    config = _write_config(world, tmp_path / "run", tmp_path / "global.yaml")
    res = CliRunner().invoke(app, ["global", "run", config, "--print-command", "--cluster", "slurm-gpu"])
    assert res.exit_code == 0 and res.output.strip().endswith(f"global run {config} --cluster slurm-gpu")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**_config(world, tmp_path / "r"), "lease": 3}))
    res = CliRunner().invoke(app, ["global", "run", str(tmp_path / "bad.yaml")])
    assert res.exit_code != 0 and "lease_seconds" in str(res.exception)


def test_cli_export_and_progress_text(reference, tmp_path):
    from typer.testing import CliRunner

    from reefdask.cli import app

    run, _ = reference
    res = CliRunner().invoke(app, ["global", "export", str(run), "--to", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["blocks"] == BLOCK
    res = CliRunner().invoke(app, ["global", "progress", str(run)])
    assert res.exit_code == 0 and f"{BLOCK + 5} of {BLOCK + 5} quads" in res.output
    assert f"corrupt {CORRUPT}" in res.output


def test_progress_callback_counts_the_quads_with_a_status(reference, world, tmp_path):
    calls = []
    report = run_job(
        _cfg(_config(world, tmp_path / "run")),
        log=lambda s: None,
        max_quads=3,
        progress=lambda n, t: calls.append((n, t)),
    )
    assert [n for n, _ in calls] == sorted({n for n, _ in calls})  # only ever grows, once per change
    assert calls[-1] == (len(report.statuses), BLOCK + 5) and len(report.statuses) >= 3
    run, _ = reference
    calls.clear()
    run_job(_cfg(_config(world, run)), log=lambda s: None, progress=lambda n, t: calls.append((n, t)))
    assert calls == [(BLOCK + 5, BLOCK + 5)]  # a finished run: one look at the listing


def test_cli_run_shows_a_progress_bar_and_the_job_summary(reference, world, tmp_path):
    from typer.testing import CliRunner

    from reefdask.cli import app

    run, _ = reference
    config = _write_config(world, run, tmp_path / "global.yaml")
    res = CliRunner().invoke(app, ["global", "run", config])
    assert res.exit_code == 0, res.output
    assert "quads with a status" in res.output and f"{BLOCK + 5}/{BLOCK + 5}" in res.output
    assert "nothing to do" in res.output
