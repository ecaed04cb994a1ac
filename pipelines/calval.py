"""Evaluate models and baselines against a reference map, per site, and rank them.

``python -m pipelines.calval CONFIG`` (:class:`reefdask.calval.config.CalvalConfig`, example
``configs/calval.yaml``); calls :func:`reefdask.calval.run.run_calval`, as ``reefdask calval``
does. Writes one report (HTML, Markdown, JSON, figures) per map and a comparison.
"""

from __future__ import annotations

from typing import Any

from pipelines._run import Outcome, main

__all__ = ["run"]


def run(cfg: Any) -> Outcome:
    """Evaluate every map of ``cfg`` (relative paths from the working folder)."""
    from pathlib import Path

    from reefdask.calval.run import run_calval

    result = run_calval(cfg, base_dir=Path.cwd(), echo=print)
    lines = [f"calval: ranking by area-weighted F1 (comparison: {result['comparison']['html']}):"]
    for i, row in enumerate(result["ranking"], 1):
        f1 = row.get("weighted_f1")
        lines.append(f"  {i}. {row['name']:<24} {row['role']:<9} {'n/a' if f1 is None else f'{f1:.4f}'}")
    reports = {k: str(v) for k, v in result["reports"].items()}
    return Outcome(True, "\n".join(lines), {"reports": reports, "comparison": result["comparison"]})


if __name__ == "__main__":
    raise SystemExit(main("calval", run, __doc__))
