"""Where a global run stands, read from its store while jobs run (local or bucket).

One listing of the quad records (their status is in the name; a second listing for a
run begun before the work layer), one of the live claims (plus a read of each claim
held: jobs x batch, a few), one of the job reports (a read each: their rates give the
run's rate and ETA) and a read of each failed quad's record for its reason. Quad
statuses are the global map's names (done, no_reef, corrupt, missing ...:
:mod:`.statuses`).
"""

from __future__ import annotations

import json
import time
from typing import Any

from reefdask.globalmap.plan import read_manifest
from reefdask.globalmap.statuses import FAILED, JOBS, STATUSES, failure_reasons, quad_work, read_statuses
from reefdask.io.store import Store, open_store
from reefdask.work import CLAIMS_DIR

__all__ = ["COLORS", "RunProgress", "progress", "format_progress", "progress_html", "draw_map"]

#: colour of each status on the map (``pending``: no status yet)
COLORS = {
    "done": "#2ca02c",
    "no_reef": "#1f77b4",
    "nodata": "#7f7f7f",
    "out_of_domain": "#c7c7c7",
    "corrupt": "#d62728",
    "missing": "#ff7f0e",
    "transient": "#9467bd",
    "pending": "#ffffff",
    "leased": "#ffd92f",
}
#: job reports older than this (seconds) before the newest one do not count in the rate
RATE_WINDOW = 900.0


class RunProgress(dict[str, Any]):
    """What :func:`progress` returns: a plain JSON-friendly dict that also prints and renders."""

    def __str__(self) -> str:
        return format_progress(self)

    def _repr_html_(self) -> str:
        return progress_html(self)


def progress(run: Store | str, storage_options: dict[str, Any] | None = None) -> RunProgress:
    """Counts, rate, ETA, claims (``leases``) and failures of the run at ``run`` (JSON-friendly).

    ``run`` is the run's :class:`~reefdask.io.store.Store`, or its URL (opened once with
    ``storage_options``).
    """
    store = open_store(run, storage_options)
    manifest = read_manifest(store)
    quads: dict[str, dict[str, str]] = manifest["quads"]
    work = quad_work(store)
    listing = work.records.scan()
    statuses = {q: s for q, s in read_statuses(store, listing).items() if q in quads}
    counts = {s: 0 for s in STATUSES}
    regions: dict[str, dict[str, int]] = {}
    for q, info in quads.items():
        s = statuses.get(q, "pending")
        counts[s] = counts.get(s, 0) + 1
        reg = regions.setdefault(info.get("region") or "-", {})
        reg[s] = reg.get(s, 0) + 1
    now = time.time()
    held = _claims(store, work)
    live = [h for h in held if h["live"]]
    by_owner: dict[str, int] = {}
    for h in live:
        by_owner[h["owner"]] = by_owner.get(h["owner"], 0) + 1
    rate, newest = _rate(store)
    remaining = len(quads) - len(statuses)
    failures = failure_reasons(store, listing) if any(counts[s] for s in FAILED) else {}
    report = {
        "run": store.url_for(),
        "fingerprint": manifest.get("fingerprint"),
        "members": manifest.get("members"),
        "total": len(quads),
        "finished": len(statuses),
        "remaining": remaining,
        "percent": round(100.0 * len(statuses) / max(1, len(quads)), 2),
        "counts": {k: v for k, v in counts.items() if v or k in STATUSES},
        "regions": regions,
        "rate_per_hour": None if rate is None else rate * 3600,
        "eta_seconds": None if not rate or not remaining else remaining / rate,
        "last_status_age_seconds": None if newest is None else now - newest,
        "leases": {
            "live": len(live),
            "expired": len(held) - len(live),
            "by_owner": by_owner,
            "held": [{**h, "expires_in": h["expires"] - now} for h in live],
        },
        "failures": failures,
        "statuses": statuses,
        "leased": sorted(h["key"] for h in live),
    }
    return RunProgress(report)


def _claims(store: Store, work: Any) -> list[dict[str, Any]]:
    """Every quad claim: quad (``key``), owner, expiry, live (one listing, a read per claim)."""
    prefix = f"{work.prefix}/{CLAIMS_DIR}/"
    out = []
    for key in store.list(prefix):
        quad = key[len(prefix) :]
        info = work.claims.holder(quad)
        if info is not None:
            out.append({"key": quad, "owner": info.get("owner"), "expires": float(info.get("expires", 0)),
                        "live": bool(info["live"])})  # fmt: skip
    return out


def _rate(store: Store) -> tuple[float | None, float | None]:
    """Quads per second of the jobs that reported lately (sum of their rates), and the newest report."""
    reports = []
    for key in store.list(f"{JOBS}/"):
        try:
            reports.append(json.loads(store.read(key)))
        except (ValueError, OSError):
            continue
    times = [r.get("updated") or 0.0 for r in reports]
    if not reports or not max(times):
        return None, None
    newest = max(times)
    rate = 0.0
    for r, t in zip(reports, times, strict=True):
        span = t - float(r.get("started") or t)
        if newest - t <= RATE_WINDOW and span > 0:
            rate += len(r.get("statuses") or {}) / span
    return rate or None, newest


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
        again = f" ({f['attempts']} attempts)" if (f.get("attempts") or 1) > 1 else ""
        lines.append(f"{f['status']} {q}: {f['error']}{again}")
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
    """Draw the run's quads coloured by status (claimed quads in yellow) into a PNG.

    The quads come from ``p["statuses"]`` and the run's inventory (``p["run"]``, opened with
    ``storage_options``).
    """
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
