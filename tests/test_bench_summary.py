"""The benchmark runner and summary (``benchmarks.run``): real bench processes, real results files."""

from __future__ import annotations

import doctest
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchmarks import report, run

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "benchmarks" / "results"


def _bench_modules(folder: Path, sources: dict[str, str]) -> None:
    """Write small bench modules (failure injection: real processes that fail, hang or skip)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in sources.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(body))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """A failing bench, then the real calval bench with --quick (the cheapest), in one run."""
    tmp = tmp_path_factory.mktemp("bench")
    _bench_modules(tmp / "mods", {"rdtest_broken": "print('starting'); raise RuntimeError('bench blew up')"})
    committed = (COMMITTED / "calval.json").read_bytes()
    lines: list[str] = []
    before = run.machine_facts()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", str(tmp / "mods"))
        outcomes = run.run_all(
            {"broken": "rdtest_broken", "calval": "benchmarks.bench_calval"},
            quick=True,
            out=tmp / "out",
            timeout=900,
            echo=lines.append,
        )
    assert (COMMITTED / "calval.json").read_bytes() == committed  # the committed figures stay
    summary = run.summarize(
        tmp / "out", outcomes, command="test", quick=True, before=before, benches=run.discover()
    )
    js, md = run.write_summary(summary, tmp / "out")
    return {"out": tmp / "out", "outcomes": outcomes, "lines": lines, "json": js, "md": md}


@pytest.mark.slow
def test_quick_run_summary_has_the_bench_figures(quick_run):
    stored = json.loads((quick_run["out"] / "results" / "calval.json").read_text())
    summary = json.loads(quick_run["json"].read_text())
    figs = [f for f in summary["figures"] if f["topic"] == "calval"]
    assert [f["name"] for f in figs] == [h["name"] for h in stored["headline"]]
    assert len(figs) == 3 and all(f["fresh"] for f in figs)
    page = quick_run["md"].read_text()
    for f in figs:
        assert f["value"] > 0 and f["baseline"] > 0 and f["ratio"] > 0
        assert f["met"] == run.meets(f["ratio"], f["target"])
        row = report._row(["calval", f["name"], report.fmt(f["value"], f["unit"]),
                           report.fmt(f["baseline"], f["unit"]), report.fmt(f["ratio"]),
                           f["target"] or "—", report._met(f["met"])])  # fmt: skip
        assert row in page
    assert figs[0]["ratio"] == pytest.approx(stored["speedup_vs_sklearn"]["reefdask_numpy_1core"])
    machine = summary["machine"]
    assert machine["cpus"] >= 1 and machine["ram_gib"] > 0 and machine["packages"]["numpy"]
    assert machine["load_average_before"] and machine["load_average_after"] and machine["git_commit"]
    calval = next(r for r in summary["runs"] if r["topic"] == "calval")
    assert calval["status"] == "ok" and calval["command"].endswith("benchmarks.bench_calval --quick")


@pytest.mark.slow
def test_failing_bench_is_reported_and_the_run_goes_on(quick_run):
    broken, calval = quick_run["outcomes"]["broken"], quick_run["outcomes"]["calval"]
    assert broken.status == "failed" and broken.returncode not in (0, None)
    assert any("bench blew up" in line for line in broken.log_tail)
    assert calval.status == "ok"  # ran after the failure
    assert "[broken] starting" in quick_run["lines"]
    summary = json.loads(quick_run["json"].read_text())
    assert summary["totals"]["failed"] == ["broken"]
    page = quick_run["md"].read_text()
    assert "### broken: failed" in page and "bench blew up" in page


@pytest.mark.slow
def test_headline_derived_by_the_bench_for_files_without_it(quick_run, tmp_path):
    stored = json.loads((quick_run["out"] / "results" / "calval.json").read_text())
    (tmp_path / "results").mkdir()
    del stored["headline"]
    (tmp_path / "results" / "calval.json").write_text(json.dumps(stored))
    benches = {"calval": "benchmarks.bench_calval"}
    summary = run.summarize(tmp_path, None, command="test", quick=None, benches=benches)
    fresh = json.loads(quick_run["json"].read_text())["figures"]
    strip = [{k: v for k, v in f.items() if k != "fresh"} for f in fresh if f["topic"] == "calval"]
    assert [{k: v for k, v in f.items() if k != "fresh"} for f in summary["figures"]] == strip


def test_timeout_and_skip(tmp_path, monkeypatch):
    pidfile = tmp_path / "child.pid"
    _bench_modules(tmp_path / "mods", {
        "rdtest_skip": "import sys; print('no service here'); sys.exit(77)",
        "rdtest_hang": f"""
            import pathlib, subprocess, time
            child = subprocess.Popen(["sleep", "300"])
            pathlib.Path({str(pidfile)!r}).write_text(str(child.pid))
            print("hanging", flush=True)
            time.sleep(300)
        """,
    })  # fmt: skip
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "mods"))
    benches = {"skip": "rdtest_skip", "hang": "rdtest_hang"}
    outcomes = run.run_all(benches, quick=False, out=tmp_path / "out", timeout=3, echo=lambda s: None)
    assert outcomes["skip"].status == "skipped" and outcomes["hang"].status == "timeout"
    child = Path(f"/proc/{pidfile.read_text()}/status")  # the bench's own child was ended with it
    assert not child.exists() or "State:\tZ" in child.read_text()
    summary = run.summarize(tmp_path / "out", outcomes, command="test", quick=False, benches=benches)
    assert summary["totals"]["failed"] == ["hang"] and summary["figures"] == []


def test_summarize_only_on_the_committed_results(tmp_path):
    shutil.copytree(COMMITTED, tmp_path / "results")
    cmd = [sys.executable, "-m", "benchmarks.run", "--summarize-only", "--out", str(tmp_path)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "results.json").read_text())
    topics = {p.stem for p in COMMITTED.glob("*.json")}
    runs = {r["topic"]: r for r in summary["runs"]}
    assert set(runs) == topics | set(run.discover())
    for topic in topics:
        assert runs[topic]["figures"] > 0 and runs[topic]["problem"] is None, runs[topic]
    assert summary["mode"] == "summarize-only" and summary["totals"]["failed"] == []
    checked = [f for f in summary["figures"] if f["target"]]
    assert checked and all(isinstance(f["met"], bool) for f in checked)
    page = (tmp_path / "RESULTS.md").read_text()
    assert sum(line.startswith("| ") for line in page.splitlines()) > len(summary["figures"])
    for f in summary["figures"]:
        assert f["name"] in page


def test_unknown_topic_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        run.main(["--only", "no-such-bench", "--summarize-only"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_doctests():
    for module in (run, report):
        assert doctest.testmod(module).failed == 0
