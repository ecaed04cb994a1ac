"""Run every benchmark, each in its own process, and summarise their headline figures.

Run: ``.venv/bin/python -m benchmarks.run [--quick] [--only TOPIC ...] [--out DIR] [--timeout S]``
(``make bench``, or ``make bench BENCH_ARGS=--quick``). ``--summarize-only`` rebuilds the
summary from the existing ``results/*.json`` without running anything.

Each ``benchmarks/bench_<topic>.py`` runs as ``python -m benchmarks.bench_<topic> [--quick]``
in a fresh process, so no memory, TensorFlow or Dask state passes from one to the next, and
a benchmark that fails, hangs past ``--timeout`` or exits with 77 (skipped: a service it
needs, such as SLURM, is missing) is reported while the others still run. Each writes
``results/<topic>.json`` (into ``$REEFDASK_BENCH_RESULTS`` when set) with its headline
figures under ``"headline"``: a list of ``{"name", "value", "baseline", "unit", "ratio",
"target"}``, where ``target`` (``">= 0.85"``, ``"<= 0.02"``) applies to ``ratio`` and is null
when the issue asks for the ratio alone. A bench module's ``headline(result)`` computes that
list, which also summarises files written before the key existed.

The summary, ``results.json`` (every figure with pass/fail, each bench's run, machine facts)
and ``RESULTS.md`` (the same as tables), covers every benchmark with a results file, and says
for each whether its figures come from this run or an earlier one.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from benchmarks.report import render_markdown

__all__ = ["SKIPPED", "Outcome", "discover", "machine_facts", "main", "meets", "run_all", "summarize"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SKIPPED = 77  # exit code of a bench that cannot run here (automake's "skip")
PACKAGES = ["reefdask", "numpy", "dask", "distributed", "xarray", "zarr", "rasterio", "tensorflow-cpu",
            "tensorflow", "keras", "scikit-learn", "gcsfs", "fsspec"]  # fmt: skip
_TARGET = re.compile(r"^\s*(>=|<=|>|<)\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*$")


@dataclass
class Outcome:
    """How one bench process ended: ``ok``, ``failed``, ``timeout``, ``skipped`` or ``not run``."""

    topic: str
    status: str = "not run"
    returncode: int | None = None
    seconds: float | None = None
    command: str = ""
    log_tail: list[str] = field(default_factory=list)


def discover(folder: Path = HERE) -> dict[str, str]:
    """Topic -> module of every ``bench_<topic>.py`` in ``folder``."""
    return {p.stem.removeprefix("bench_"): f"benchmarks.{p.stem}" for p in sorted(folder.glob("bench_*.py"))}


def meets(ratio: float | None, target: str | None) -> bool | None:
    """Whether ``ratio`` meets ``target`` (``">= 3"``, ``"<= 0.02"``); None when there is nothing to check.

    Examples
    --------
    >>> meets(4.09, ">= 3"), meets(1.3, "<= 1.2"), meets(1.4, None), meets(None, ">= 1")
    (True, False, None, None)
    """
    m = _TARGET.match(target) if isinstance(target, str) else None
    if m is None or ratio is None:
        return None
    op, bound = m.group(1), float(m.group(2))
    return {">=": ratio >= bound, "<=": ratio <= bound, ">": ratio > bound, "<": ratio < bound}[op]


def _kill_group(proc: subprocess.Popen) -> None:
    """End the bench's process group (the bench and whatever it started), politely first."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def run_one(topic: str, module: str, *, quick: bool, results: Path, timeout: float | None,
            echo: Callable[[str], None] = print) -> Outcome:  # fmt: skip
    """Run one bench in a fresh process group, echoing its output; never raises for the bench's failure."""
    cmd = [sys.executable, "-m", module, *(["--quick"] if quick else [])]
    env = {**os.environ, "REEFDASK_BENCH_RESULTS": str(results)}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out = Outcome(topic, command=" ".join(["python", *cmd[1:]]))
    path = results / f"{topic}.json"
    before = path.stat().st_mtime_ns if path.exists() else None
    tail: deque[str] = deque(maxlen=20)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)  # fmt: skip

    def pump() -> None:
        for line in proc.stdout or ():
            tail.append(line.rstrip())
            echo(f"[{topic}] {line.rstrip()}")

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        out.returncode = proc.wait(timeout=timeout or None)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out.status = "timeout"
    reader.join(10)
    if reader.is_alive():  # the bench left a process holding its output open
        _kill_group(proc)
        reader.join(5)
    out.seconds = round(time.perf_counter() - t0, 1)
    out.log_tail = list(tail)
    wrote = path.exists() and path.stat().st_mtime_ns != before
    if out.status != "timeout":
        if out.returncode == SKIPPED:
            out.status = "skipped"
        elif out.returncode == 0 and wrote:
            out.status = "ok"
        else:
            out.status = "failed"
            if out.returncode == 0:
                out.log_tail.append(f"(exited 0 but did not write {path})")
    echo(f"[{topic}] {out.status} after {out.seconds:.0f} s")
    return out


def run_all(benches: dict[str, str], *, quick: bool, out: Path, timeout: float | None = None,
            echo: Callable[[str], None] = print) -> dict[str, Outcome]:  # fmt: skip
    """Run ``benches`` (topic -> module) one after the other; results go to ``out/results``."""
    results = out / "results"
    results.mkdir(parents=True, exist_ok=True)
    return {
        t: run_one(t, m, quick=quick, results=results, timeout=timeout, echo=echo) for t, m in benches.items()
    }


def _git(*args: str) -> str | None:
    try:
        res = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def _written(path: Path) -> str:
    """When ``path`` was written: its last commit (date, hash) when git holds it unchanged, else its mtime."""
    if path.resolve().is_relative_to(ROOT) and _git("status", "--porcelain", "--", str(path)) == "":
        committed = _git("log", "-1", "--format=%cI (commit %h)", "--", str(path))
        if committed:
            return committed
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds") + " (file)"


def machine_facts() -> dict:
    """CPUs, RAM, Python, package versions, git commit, date and load average of this machine."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    facts: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_model": None,
        "ram_gib": None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            facts["cpu_model"] = line.split(":", 1)[1].strip()
            break
    for line in Path("/proc/meminfo").read_text().splitlines() if Path("/proc/meminfo").exists() else []:
        if line.startswith("MemTotal:"):
            facts["ram_gib"] = round(int(line.split()[1]) / 2**20, 1)
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    try:
        import rasterio

        packages["GDAL"] = rasterio.__gdal_version__
    except ImportError:  # pragma: no cover - rasterio is a dependency
        pass
    facts["packages"] = packages
    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", "reefdask", "benchmarks")
    facts["git_commit"] = commit
    facts["git_dirty"] = bool(dirty) if commit else None
    return facts


def _figures(topic: str, module: str | None, path: Path) -> tuple[list[dict], str | None]:
    """The headline figures of one results file, checked against their targets, or why there are none."""
    try:
        result = json.loads(path.read_text())
        heads = result.get("headline")
        if heads is None:  # written before benches stored their headline: ask the bench
            if module is None:
                return [], "no headline figures and no bench module to derive them"
            heads = importlib.import_module(module).headline(result)
    except Exception as e:  # a broken file must not stop the summary
        return [], f"cannot read figures: {type(e).__name__}: {e}"
    figs = []
    for h in heads:
        fig = {"topic": topic, "name": h["name"], "value": h.get("value"), "baseline": h.get("baseline"),
               "unit": h.get("unit"), "ratio": h.get("ratio"), "target": h.get("target")}  # fmt: skip
        fig["met"] = meets(fig["ratio"], fig["target"])
        if h.get("note"):
            fig["note"] = h["note"]
        figs.append(fig)
    return figs, None


def summarize(out: Path, outcomes: dict[str, Outcome] | None, *, command: str, quick: bool | None,
              before: dict | None = None, benches: dict[str, str] | None = None) -> dict:  # fmt: skip
    """The summary of every bench with a results file in ``out/results`` (and every bench run now)."""
    benches = discover() if benches is None else benches
    outcomes = outcomes or {}
    results = out / "results"
    topics = sorted(set(benches) | set(outcomes) | {p.stem for p in results.glob("*.json")})
    machine = machine_facts()
    machine["load_average_before"] = (before or {}).get("load_average")
    machine["load_average_after"] = machine.pop("load_average")
    runs, figures = [], []
    for topic in topics:
        ran = outcomes.get(topic)
        path = results / f"{topic}.json"
        run = asdict(ran) if ran else asdict(Outcome(topic))
        if ran is None or ran.status == "ok":
            run.pop("log_tail")
        run["fresh"] = bool(ran and ran.status == "ok")
        run["results_file"] = f"results/{topic}.json" if path.exists() else None
        run["results_written"] = _written(path) if path.exists() else None
        figs, problem = _figures(topic, benches.get(topic), path) if path.exists() else ([], None)
        for f in figs:
            f["fresh"] = run["fresh"]
        run["figures"], run["problem"] = len(figs), problem
        runs.append(run)
        figures.extend(figs)
    checked = [f for f in figures if f["met"] is not None]
    return {
        "command": command,
        "mode": "summarize-only" if not outcomes else ("quick" if quick else "default sizes"),
        "started": (before or {}).get("date"),
        "finished": machine["date"],
        "machine": machine,
        "totals": {
            "figures": len(figures),
            "with_target": len(checked),
            "met": sum(bool(f["met"]) for f in checked),
            "not_met": [f"{f['topic']}: {f['name']}" for f in checked if not f["met"]],
            "failed": [r["topic"] for r in runs if r["status"] in ("failed", "timeout")],
        },
        "runs": runs,
        "figures": figures,
    }


def write_summary(summary: dict, out: Path) -> tuple[Path, Path]:
    """Write ``out/results.json`` and ``out/RESULTS.md``."""
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "results.json", out / "RESULTS.md"
    js.write_text(json.dumps(summary, indent=2) + "\n")
    md.write_text(render_markdown(summary))
    return js, md


def main(argv: list[str] | None = None) -> int:
    """Command line: run the benchmarks (or not), then summarise; exit 1 when a bench failed."""
    benches = discover()
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="pass --quick to every bench (small sizes)")
    ap.add_argument("--only", nargs="+", metavar="TOPIC", choices=sorted(benches),
                    help=f"run only these benches (of: {', '.join(benches)})")  # fmt: skip
    ap.add_argument("--summarize-only", action="store_true",
                    help="run nothing; rebuild results.json and RESULTS.md from results/*.json")  # fmt: skip
    where = (
        "folder of results/<topic>.json, results.json and RESULTS.md (default: benchmarks/,"
        " or benchmarks/_work/quick with --quick, so small-size figures never replace the committed ones)"
    )
    ap.add_argument("--out", type=Path, default=None, help=where)
    ap.add_argument(
        "--timeout", type=float, default=3600, help="seconds per bench before it is ended (0: none)"
    )
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = HERE / "_work" / "quick" if args.quick else HERE
    command = " ".join(["python -m benchmarks.run", *(sys.argv[1:] if argv is None else argv)])
    outcomes = None
    before = machine_facts()
    if not args.summarize_only:
        chosen = {t: benches[t] for t in (args.only or benches)}
        outcomes = run_all(chosen, quick=args.quick, out=args.out, timeout=args.timeout)
    summary = summarize(args.out, outcomes, command=command, quick=args.quick, before=before, benches=benches)
    js, md = write_summary(summary, args.out)
    t = summary["totals"]
    print(f"{t['figures']} figures, {t['met']} of {t['with_target']} targets met; wrote {js} and {md}")
    for name in t["not_met"]:
        print(f"  target not met: {name}")
    if t["failed"]:
        print(f"  failed: {', '.join(t['failed'])}")
    return 1 if t["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
