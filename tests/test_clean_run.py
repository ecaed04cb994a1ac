"""``reefdask clean`` end to end: steps, idempotency, dropped quads, concurrent runs, CLI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from typer.testing import CliRunner

from reefdask.acquire.atomic import Claim
from reefdask.clean import CleanConfig, run_clean
from reefdask.clean.boundaries import sampling_boundary, with_margin
from reefdask.clean.edges import edge_labels
from reefdask.cli import app
from reefdask.core.grid import Quad
from reefdask.core.nodata import LABEL_NODATA
from reefdask.errors import ConfigError
from reefdask.io.store_local import LocalStore

N = 32
BLOCK = ["L15-0525E-1122N", "L15-0526E-1122N", "L15-0525E-1123N", "L15-0526E-1123N"]
ALL_LAND = "L15-0600E-1000N"


def _tif(path: Path, data: np.ndarray, quad: str, nodata: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = data if data.ndim == 3 else data[None]
    profile = dict(
        driver="GTiff", width=N, height=N, count=data.shape[0], dtype=data.dtype.name, nodata=nodata
    )
    with rasterio.open(
        path, "w", **profile, crs="EPSG:3857", transform=Quad.parse(quad).transform(size=N)
    ) as ds:
        ds.write(data)


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """Imagery in two regions (one quad in both), raster labels, a corrupt quad."""
    root = tmp_path / "raw"
    rng = np.random.default_rng(0)
    for i, q in enumerate([*BLOCK, ALL_LAND]):
        rgba = rng.integers(1, 255, (4, N, N), dtype="uint8")
        rgba[3] = 255
        _tif(root / "imagery" / "belize" / f"{q}.tif", rgba, q)
        labels = np.where(rng.random((N, N)) < 0.5, 1, 5).astype("int16")  # land / forereef
        labels[:, : 8 * i] = 3  # deep water
        if q == ALL_LAND:
            labels[:] = 1
        if q != BLOCK[3]:  # the last block quad has no labels at all
            _tif(root / "labels" / "belize" / f"{q}.tif", labels, q, nodata=LABEL_NODATA)
    dup = rng.integers(1, 255, (4, N, N), dtype="uint8")
    dup[3] = 255
    dup[3, :, : N // 2] = 0  # the atoll copy has no data on its western half
    _tif(root / "imagery" / "atoll" / f"{BLOCK[0]}.tif", dup, BLOCK[0])
    (root / "imagery" / "atoll" / "L15-0700E-1000N.tif").write_bytes(b"II*\x00garbage")
    return root


def _config(raw: Path, out: Path, **over: object) -> dict:
    cfg = {
        "workers": 2,
        "imagery": {"inputs": str(raw / "imagery"), "output": str(out / "imagery"), "factor": 2},
        "labels": {
            "output": str(out / "labels"),
            "sources": [{"kind": "raster", "path": str(raw / "labels" / "**" / "*.tif")}],
            "min_non_land_fraction": 0.01,
        },
        "boundaries": {"output": str(out / "boundaries"), "buffer_m": 3000},
        "edges": {"output": str(out / "edges"), "width_px": 3},
    }
    cfg.update(over)
    return cfg


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


@pytest.mark.slow
def test_clean_end_to_end_and_rerun(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "clean"
    cfg = CleanConfig.model_validate(_config(raw, out))
    rep = run_clean(cfg, progress=False)
    c = rep.counts()
    assert c["imagery"] == {"made": 5, "failed": 1}
    assert c["labels"] == {"made": 3, "dropped": 1, "empty": 1}
    assert c["boundaries"] == {"made": 3} and c["edges"] == {"made": 3}
    assert not rep.ok and "L15-0700E-1000N" in rep.summary()
    dropped = next(o for o in rep.outcomes if o.status == "dropped")
    assert dropped.scene == ALL_LAND and "almost only land" in dropped.reason

    # labels sit on the exact grid of the cleaned imagery (factor 2) and are nearest-resampled
    q = BLOCK[1]
    with (
        rasterio.open(out / "imagery" / f"{q}.tif") as img,
        rasterio.open(out / "labels" / f"{q}.tif") as lab,
    ):
        assert (img.transform, img.shape, img.crs) == (lab.transform, lab.shape, lab.crs)
        assert img.shape == (N // 2, N // 2) and lab.dtypes[0] == "int16" and lab.nodata == LABEL_NODATA
    # the quad in two regions was merged: atoll first (sorted), its empty half filled from belize
    from reefdask.clean.imagery import clean_imagery

    for region in ("atoll", "belize"):
        clean_imagery([raw / "imagery" / region / f"{BLOCK[0]}.tif"], tmp_path / f"{region}.tif", factor=2)
    merged = _read(out / "imagery" / f"{BLOCK[0]}.tif")
    assert np.array_equal(merged[:, :, N // 4 :], _read(tmp_path / "atoll.tif")[:, :, N // 4 :])
    assert np.array_equal(merged[:, :, : N // 4], _read(tmp_path / "belize.tif")[:, :, : N // 4])

    # boundaries use neighbours' margins: equal to the mosaic's boundary, cropped
    px = abs(Quad.parse(q).transform(size=N // 2).a)
    padded = with_margin(out / "labels" / f"{q}.tif", Quad.parse(q), out / "labels", 3)
    want = sampling_boundary(padded, [1, 12], px, 3000)[3:-3, 3:-3]
    assert np.array_equal(_read(out / "boundaries" / f"{q}.tif")[0], want)
    edges = _read(out / "edges" / f"{q}.tif")[0]
    assert set(np.unique(edges[edges > 100]).tolist()) <= {101, 102, 103, 104, 105, 106, 107, 108, 109, 110}

    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.tif")}
    rep2 = run_clean(cfg, progress=False)
    assert all(o.status in ("skipped", "failed", "dropped", "empty") for o in rep2.outcomes)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.tif")} == mtimes
    assert not list(out.rglob(".*.part-*")) and not list(out.rglob("*.claim"))

    # a changed configuration rebuilds what it changes (and what depends on it)
    cfg3 = CleanConfig.model_validate(_config(raw, out, resampling="nearest"))
    c3 = run_clean(cfg3, progress=False).counts()
    assert c3["imagery"]["made"] == 5 and c3["labels"]["made"] == 3 and c3["edges"]["made"] == 3


def test_boundary_and_edges_small_cases() -> None:
    labels = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 5]], dtype="int16")
    mask = sampling_boundary(labels, [1], pixel_size=10.0, buffer_m=15.0)
    assert mask.tolist() == [[0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]
    assert sampling_boundary(np.ones((2, 2), "int16"), [1], 10.0).sum() == 0
    groups = np.array([[1, 2, 2, LABEL_NODATA]], dtype="int16")
    out = edge_labels(groups, groups, [1, 2, 3], width_px=3, code_base=100)
    assert out.tolist() == [[101, 101, 2, LABEL_NODATA]]  # nodata neither makes nor takes edges


def test_claims_expire_and_exclude(tmp_path: Path) -> None:
    a, b = Claim(tmp_path / "x.tif"), Claim(tmp_path / "x.tif")
    assert a.acquire() and not b.acquire()
    a.release()
    assert b.acquire()
    b.release()
    assert not b.path.exists()  # a released claim leaves nothing behind
    # a claim of a process of this host that no longer exists is stale at once
    body = {
        "owner": "dead",
        "token": "t",
        "expires": 1e12,
        "host": socket.gethostname(),
        "pid": 2**22 + 12345,
    }
    LocalStore(tmp_path).create("_work/_claims/y.tif", json.dumps(body).encode())
    assert Claim(tmp_path / "y.tif").acquire()


def test_claim_takeover_race_has_one_winner(tmp_path: Path) -> None:
    """Eight waiters find the same expired claim at once: exactly one holds it (the O_EXCL claim let two)."""
    import threading
    import time

    for round_ in range(4):
        out = tmp_path / f"q{round_}.tif"
        assert Claim(out, ttl=0.05).acquire()  # its run dies: never renewed, never released
        time.sleep(0.1)
        waiters = [Claim(out) for _ in range(8)]
        barrier = threading.Barrier(8)
        won: list[Claim] = []

        def take(c: Claim, barrier: threading.Barrier = barrier, won: list[Claim] = won) -> None:
            barrier.wait()
            if c.acquire():
                won.append(c)

        threads = [threading.Thread(target=take, args=(c,)) for c in waiters]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1
        won[0].check()


def test_completion_is_a_work_record_and_old_tagged_outputs_still_count(raw: Path, tmp_path: Path) -> None:
    import shutil

    from reefdask.work import Records

    out = tmp_path / "clean"
    cfg = CleanConfig.model_validate(_config(raw, out))
    run_clean(cfg, progress=False)
    listing = Records(LocalStore(out / "labels"), "_work").scan()  # one listing: every scene's status
    assert {u: (e.status, e.detail) for u, e in listing.items() if e.status != "done"} == {
        f"{ALL_LAND}.tif": ("skipped", "no_reef"),
        f"{BLOCK[3]}.tif": ("skipped", "nodata"),
    }
    failed = Records(LocalStore(out / "imagery"), "_work").failures()
    assert list(failed) == ["L15-0700E-1000N.tif"] and failed["L15-0700E-1000N.tif"].attempts
    done = Records(LocalStore(out / "imagery"), "_work").get(f"{BLOCK[1]}.tif")
    assert done is not None and done.status == "done" and done.info["tag"]
    for step in ("imagery", "labels", "boundaries", "edges"):  # as a run before the work layer left it
        shutil.rmtree(out / step / "_work")
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.tif")}
    rep = run_clean(cfg, progress=False)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.tif")} == mtimes  # the tags still say up to date
    assert rep.counts()["imagery"] == {"skipped": 5, "failed": 1}


def test_config_errors(raw: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="labels need a grid"):
        CleanConfig.model_validate({"labels": _config(raw, tmp_path)["labels"]})
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"imagery": {"inputs": "a", "output": "b", "factr": 2}}))
    from reefdask.clean import load_clean_config

    with pytest.raises(ConfigError, match=r"imagery\.factr: unknown key"):
        load_clean_config(cfg)


@pytest.mark.slow
def test_two_concurrent_runs_make_each_output_once(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "clean"
    cfg_path = tmp_path / "clean.yaml"
    cfg_path.write_text(yaml.safe_dump(_config(raw, out, workers=1)))
    exe = str(Path(sys.executable).with_name("reefdask"))
    procs = [
        subprocess.Popen([exe, "clean", str(cfg_path), "--json"], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    reports = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert [p.returncode for p in procs] == [1, 1]  # the corrupt quad fails in both
    made: dict[str, int] = {}
    for rep in reports:
        for step, counts in rep["steps"].items():
            made[step] = made.get(step, 0) + counts.get("made", 0)
    assert made == {"imagery": 5, "labels": 3, "boundaries": 3, "edges": 3}
    # and the outputs are those of a single run
    ref = tmp_path / "ref"
    run_clean(CleanConfig.model_validate(_config(raw, ref)), progress=False)
    for p in sorted(ref.rglob("*.tif")):
        assert np.array_equal(_read(p), _read(out / p.relative_to(ref))), p
    assert sorted(p.relative_to(ref) for p in ref.rglob("*")) == sorted(
        p.relative_to(out) for p in out.rglob("*")
    )


def test_clean_cli_json(raw: Path, tmp_path: Path) -> None:
    cfg = _config(raw, tmp_path / "c")
    cfg.pop("boundaries")
    cfg.pop("edges")
    cfg["imagery"]["inputs"] = str(raw / "imagery" / "belize")
    path = tmp_path / "clean.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(app, ["clean", str(path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["ok"] and data["steps"]["imagery"] == {"made": 5}
    res = CliRunner().invoke(app, ["clean", str(path), "--no-progress"])
    assert "imagery: skipped 5" in res.output


def test_changed_inputs_rebuild_what_depends_on_them(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "clean"
    cfg = CleanConfig.model_validate(_config(raw, out))
    run_clean(cfg, progress=False)
    label = raw / "labels" / "belize" / f"{BLOCK[0]}.tif"
    data = _read(label)[0]
    data[0, 0] = 5
    _tif(label, data, BLOCK[0], nodata=LABEL_NODATA)  # re-acquired: new bytes, new mtime
    rep = run_clean(cfg, progress=False)
    made = {(o.step, o.scene) for o in rep.outcomes if o.status == "made"}
    # its label quad, then boundaries and edges of it and of its neighbours with labels
    with_labels = {BLOCK[0], BLOCK[1], BLOCK[2]}
    assert made == {("labels", BLOCK[0])} | {(s, q) for s in ("boundaries", "edges") for q in with_labels}


def test_vector_labels_in_a_run(tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    raw = tmp_path / "raw"
    for q in BLOCK[:2]:
        rgba = np.full((4, N, N), 120, dtype="uint8")
        _tif(raw / "imagery" / "r" / f"{q}.tif", rgba, q)
    w, s, _, n = Quad.parse(BLOCK[0]).bounds()
    e = Quad.parse(BLOCK[1]).bounds()[2]
    side = (e - w) / 2
    layer = gpd.GeoDataFrame(
        {"zone": ["Reef Crest", "Land", "Deep"]},
        geometry=[
            box(w + side / 4, s, e - side / 4, n),
            box(w, s, w + side / 8, n),
            box(e - side / 8, s, e, n),
        ],
        crs="EPSG:3857",
    ).to_crs("EPSG:4326")
    layer.to_file(raw / "zones.geojson", driver="GeoJSON")
    mapping = {"Reef Crest": "shallow reef flat", "Land": "land", "Deep": None}
    source = {"kind": "vector", "path": str(raw / "zones.geojson"), "attribute": "zone", "mapping": mapping}
    cfg = CleanConfig.model_validate({
        "imagery": {"inputs": str(raw / "imagery"), "output": str(tmp_path / "img")},
        "labels": {"output": str(tmp_path / "lab"), "all_touched": True, "sources": [source]},
    })  # fmt: skip
    rep = run_clean(cfg, progress=False)
    assert rep.counts()["labels"] == {"made": 2}
    west, east = (_read(tmp_path / "lab" / f"{q}.tif")[0] for q in BLOCK[:2])
    assert (west[:, : N // 8] == 1).all() and (west[:, N // 4 + 1 :] == 6).all()
    assert (east[:, : -N // 4 - 1] == 6).all() and (east[:, -N // 8 :] == LABEL_NODATA).all()


def test_a_rerun_removes_record_temporaries_a_killed_run_left(raw: Path, tmp_path: Path) -> None:
    import subprocess as sp

    from reefdask.io.store import HOST

    out = tmp_path / "clean"
    cfg = CleanConfig.model_validate(_config(raw, out))
    run_clean(cfg, progress=False)
    dead = int(sp.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True).stdout)
    stale = out / "labels" / "_work" / f".{BLOCK[0]}.tif.done.json.part-{HOST}-{dead}-0123abcd"
    stale.write_bytes(b'{"half": ')
    run_clean(cfg, progress=False)
    assert not stale.exists()
