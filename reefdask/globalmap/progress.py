"""Where a global run stands, read from its store while jobs run (local or bucket).

One listing of the statuses, one of the leases (plus a read of each lease held, a few),
and a read of each failed quad's reason: counts per status and per region, rate and
ETA, leases held and by whom, corrupt and missing quads with their reasons.
"""

from __future__ import annotations

import time
from typing import Any

from reefdask.globalmap.leases import Leases, open_versioned_store
from reefdask.globalmap.plan import read_manifest
from reefdask.globalmap.state import STATUSES, StatusStore

__all__ = ["COLORS", "RunProgress", "progress", "format_progress", "progress_html", "draw_map"]

#: colour of each status on the map (``pending``: no status yet)
COLORS = {
    "done": "#2ca02c",
    "no_reef": "#1f77b4",
    "nodata": "#7f7f7f",
    "out_of_domain": "#c7c7c7",
    "corrupt": "#d62728",
    "missing": "#ff7f0e",
    "pending": "#ffffff",
    "leased": "#ffd92f",
}


class RunProgress(dict[str, Any]):
    """What :func:`progress` returns: a plain JSON-friendly dict that also prints and renders."""

    def __str__(self) -> str:
        return format_progress(self)

    def _repr_html_(self) -> str:
        return progress_html(self)


def progress(run: str, storage_options: dict[str, Any] | None = None, *, window: int = 200) -> RunProgress:
    """Counts, rate, ETA, leases and failures of the run at ``run`` (JSON-friendly).

    ``window``: the rate is measured over the last ``window`` statuses recorded.
    """
    from reefdask.globalmap.run import state_urls

    manifest = read_manifest(run, storage_options)
    quads: dict[str, dict[str, str]] = manifest["quads"]
    urls = state_urls(run.rstrip("/"))
    status = StatusStore(urls["status"], storage_options)
    listing = {q: s for q, s in status.listing().items() if q in quads}
    counts = {s: 0 for s in STATUSES}
    regions: dict[str, dict[str, int]] = {}
    for q, info in quads.items():
        s = listing[q].status if q in listing else "pending"
        counts[s] = counts.get(s, 0) + 1
        reg = regions.setdefault(info.get("region") or "-", {})
        reg[s] = reg.get(s, 0) + 1
    times = sorted(s.time for s in listing.values())[-window:]
    now = time.time()
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else None
    remaining = len(quads) - len(listing)
    held = Leases(open_versioned_store(urls["leases"], storage_options), "progress").held()
    live = [h for h in held if h["live"]]
    by_owner: dict[str, int] = {}
    for h in live:
        by_owner[h["owner"]] = by_owner.get(h["owner"], 0) + 1
    failures = (
        {**status.details("corrupt"), **status.details("missing")}
        if (counts["corrupt"] or counts["missing"])
        else {}
    )
    report = {
        "run": run,
        "fingerprint": manifest.get("fingerprint"),
        "members": manifest.get("members"),
        "total": len(quads),
        "finished": len(listing),
        "remaining": remaining,
        "percent": round(100.0 * len(listing) / max(1, len(quads)), 2),
        "counts": {k: v for k, v in counts.items() if v or k in STATUSES},
        "regions": regions,
        "rate_per_hour": None if rate is None else rate * 3600,
        "eta_seconds": None if not rate or not remaining else remaining / rate,
        "last_status_age_seconds": None if not times else now - times[-1],
        "leases": {
            "live": len(live),
            "expired": len(held) - len(live),
            "by_owner": by_owner,
            "held": [{**h, "expires_in": h["expires"] - now} for h in live],
        },
        "failures": {
            q: {"status": b.get("status"), "error": b.get("error"), "job": b.get("job")}
            for q, b in sorted(failures.items())
        },
        "statuses": {q: s.status for q, s in sorted(listing.items())},
        "leased": sorted(h["key"] for h in live),
    }
    return RunProgress(report)


def format_progress(p: dict[str, Any]) -> str:
    """A short report for people."""
    lines = [
        f"run {p['run']}  ({p['fingerprint']}, {len(p['members'] or [])} model(s))",
        f"{p['finished']} of {p['total']} quads have a status ({p['percent']:.1f} %), "
        f"{p['remaining']} remaining",
        "  " + "  ".join(f"{k} {v}" for k, v in p["counts"].items()),
    ]
    if p["rate_per_hour"]:
        eta = p["eta_seconds"]
        lines.append(f"rate {p['rate_per_hour']:.1f} quads/h" + (f", ETA {eta / 3600:.2f} h" if eta else ""))
    if len(p["regions"]) > 1:
        for reg, c in sorted(p["regions"].items()):
            lines.append(f"  {reg}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    lv = p["leases"]
    lines.append(f"leases: {lv['live']} live, {lv['expired']} expired")
    for owner, n in sorted(lv["by_owner"].items()):
        lines.append(f"  {owner}: {n}")
    for q, f in p["failures"].items():
        lines.append(f"{f['status']} {q}: {f['error']}")
    return "\n".join(lines)


def progress_html(p: dict[str, Any]) -> str:
    """The notebook view of :func:`progress`: share bar, counts, rate and ETA, leases, failures."""
    from reefdask.reporting.html import block, esc, fields, section, swatch, table

    total = max(1, p["total"])
    counts = p["counts"]
    bar = "".join(
        f'<span title="{esc(s)} {n}" style="display:inline-block;height:10px;'
        f"width:{max(1, 300 * n // total)}px;background:{COLORS.get(s, '#dddddd')};"
        f'border-right:1px solid #fff"></span>'
        for s, n in counts.items()
        if n
    )
    rows = [[swatch(COLORS.get(s, "#dddddd"), s), n, 100.0 * n / total] for s, n in counts.items()]
    rows_html = table(["status", "quads", "%"], [*rows, ["total", p["total"], None]])
    eta = p.get("eta_seconds")
    leases = p["leases"]
    about = {
        "fingerprint": p.get("fingerprint"),
        "models": len(p.get("members") or []),
        "finished": f"{p['finished']} of {p['total']} ({p['percent']:.1f} %)",
        "rate (quads/h)": p.get("rate_per_hour"),
        "ETA (h)": None if eta is None else eta / 3600,
        "leases": f"{leases['live']} live, {leases['expired']} expired",
    }
    parts = [f"<div>{bar}</div>", rows_html, fields(about)]
    if len(p["regions"]) > 1:
        names = [s for s in counts if any(s in c for c in p["regions"].values())]
        reg = [[r, *(c.get(s, 0) for s in names)] for r, c in sorted(p["regions"].items())]
        parts.append(section("per region", table(["region", *names], reg), open=False))
    if leases["by_owner"]:
        owners = table(["owner", "leases"], sorted(leases["by_owner"].items()))
        parts.append(section("leases held", owners, open=False))
    if p["failures"]:
        fails = [[q, f.get("status"), f.get("error"), f.get("job")] for q, f in p["failures"].items()]
        parts.append(
            section(f"{len(fails)} failed quad(s)", table(["quad", "status", "error", "job"], fails))
        )
    return block("Global run", p["run"], *parts)


def draw_map(p: dict[str, Any], path: str, storage_options: dict[str, Any] | None = None) -> str:
    """Draw the run's quads coloured by status (leased quads in yellow) into a PNG."""
    from matplotlib.patches import Patch, Rectangle

    from reefdask.core.grid import Quad
    from reefdask.reporting.figures import agg_figure

    statuses = dict(p["statuses"])
    leased = set(p["leased"])
    fig = agg_figure(7, 6)
    ax = fig.add_subplot()
    xs, ys = [], []
    seen = set()
    for q in sorted(read_manifest(p["run"], storage_options)["quads"]):
        quad = Quad.parse(q)
        s = statuses.get(q, "leased" if q in leased else "pending")
        seen.add(s)
        ax.add_patch(Rectangle((quad.x, quad.y), 1, 1, facecolor=COLORS[s], edgecolor="#333333", lw=0.3))
        xs.append(quad.x)
        ys.append(quad.y)
    if xs:
        ax.set_xlim(min(xs) - 0.5, max(xs) + 1.5)
        ax.set_ylim(min(ys) - 0.5, max(ys) + 1.5)
    ax.set_aspect("equal")
    ax.set_xlabel("quad column (east)")
    ax.set_ylabel("quad row (north)")
    ax.set_title(f"{p['finished']} / {p['total']} quads ({p['percent']:.1f} %)")
    ax.legend(
        handles=[Patch(facecolor=COLORS[s], edgecolor="#333333", label=s) for s in COLORS if s in seen],
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
