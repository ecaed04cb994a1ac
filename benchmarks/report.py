"""Markdown page of a benchmark summary (``benchmarks/RESULTS.md``), made by ``benchmarks.run``."""

from __future__ import annotations

__all__ = ["fmt", "render_markdown"]

_DASH = "—"


def fmt(x: object, unit: str | None = None) -> str:
    """A figure for a table: three significant digits (more when large), with its unit.

    Examples
    --------
    >>> fmt(30.58473), fmt(0.000512, "s"), fmt(166.4614, "Mpx/s"), fmt(1217.2, "MB"), fmt(None), fmt(True)
    ('30.6', '0.000512 s', '166 Mpx/s', '1,217 MB', '—', 'yes')
    """
    if x is None:
        return _DASH
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int | float):
        text = f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"
    else:
        text = str(x)
    return f"{text} {unit}" if unit else text


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _row(cells: list[object]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    return [_row(list(header)), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def _met(met: bool | None) -> str:
    return _DASH if met is None else ("**yes**" if met else "**no**")


def render_markdown(summary: dict) -> str:
    """The summary as a page: figures, runs, failures with their last output lines, machine facts."""
    m, totals, runs = summary["machine"], summary["totals"], summary["runs"]
    only_summary = summary["mode"] == "summarize-only"
    commit = (m.get("git_commit") or "unknown")[:10] + (" + local changes" if m.get("git_dirty") else "")
    lines = [
        "# Benchmark results",
        "",
        "Each benchmark under `benchmarks/` measures reefdask side by side with a baseline in one run. "
        "The ratio is the one the figure's name describes; the target is the issue's, on that ratio; "
        f"*met?* checks it ({_DASH}: the issue asks for the ratio alone).",
        "",
        f"- Made by `{summary['command']}` on {summary['finished']}, commit {commit} "
        f"({'summary of the existing results files' if only_summary else summary['mode']}).",
        "- Rerun all benchmarks: `make bench` (default sizes) or `make bench BENCH_ARGS=--quick` "
        "(small sizes, written to `benchmarks/_work/quick/`); "
        "some of them: `make bench BENCH_ARGS='--only predict calval'`.",
        "- Rebuild this page and `results.json` from `results/*.json` without running anything: "
        "`.venv/bin/python -m benchmarks.run --summarize-only`.",
        "",
        f"**{totals['met']} of {totals['with_target']} targets met** over {totals['figures']} figures.",
    ]
    if totals["not_met"]:
        lines.append("Not met: " + "; ".join(totals["not_met"]) + ".")
    if totals["failed"]:
        lines.append("Failed benchmarks (figures below, if any, are from an earlier run): "
                     + ", ".join(totals["failed"]) + ".")  # fmt: skip
    rows = []
    for f in summary["figures"]:
        name = f["name"] + (f" ({f['note']})" if f.get("note") else "")
        topic = f["topic"] + ("" if only_summary or f.get("fresh") else " (earlier run)")
        rows.append([topic, name, fmt(f["value"], f["unit"]), fmt(f["baseline"], f["unit"]), fmt(f["ratio"]),
                     f["target"] or _DASH, _met(f["met"])])  # fmt: skip
    lines += ["", *_table(["benchmark", "figure", "reefdask", "baseline", "ratio", "target", "met?"], rows)]

    lines += ["", "## Runs", ""]
    run_rows = []
    for r in runs:
        source = (
            f"`{r['results_file']}`, written {r['results_written']}"
            if r["results_file"]
            else "no results file"
        )
        if r.get("problem"):
            source += f"; {r['problem']}"
        status = "from file" if only_summary else r["status"]
        run_rows.append([r["topic"], status, fmt(r["seconds"]), r["figures"], source])
    lines += _table(["benchmark", "run", "seconds", "figures", "figures from"], run_rows)
    for r in runs:
        if r.get("log_tail"):
            lines.append("")
            head = f"### {r['topic']}: {r['status']} (exit code {fmt(r['returncode'])})"
            lines += [
                head,
                "",
                f"`{r['command']}`, last lines of its output:",
                "",
                "```",
                *r["log_tail"],
                "```",
            ]

    load_label = "load average at summary time" if only_summary else "load average (1, 5, 15 min)"
    load = (f"{m['load_average_after']}" if only_summary
            else f"before {m['load_average_before']}, after {m['load_average_after']}")  # fmt: skip
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    facts = [
        ["CPUs", f"{m['cpus']} ({m['cpus_usable']} usable), {m['cpu_model'] or 'model unknown'}"],
        ["RAM", fmt(m["ram_gib"], "GiB")],
        ["Python", f"{m['python']} on {m['platform']}"],
        [load_label, load],
        ["packages", packages],
        ["git commit", commit],
        ["started / finished", f"{summary['started'] or _DASH} / {summary['finished']}"],
    ]
    lines += ["", "## Machine", "", *_table(["fact", "value"], facts)]
    if only_summary:
        lines += ["", "Machine facts are those of the machine that made this summary; each results file "
                  "records the machine (CPUs, load) of its own run."]  # fmt: skip
    return "\n".join(lines) + "\n"
