"""Run a calval configuration: every model and baseline against the reference, then a ranking."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reefdask.calval.config import CalvalConfig, MapConfig

__all__ = ["run_calval"]


def _resolve(url: str | None, base: Path | None) -> str | None:
    if url is None or base is None or "://" in url or os.path.isabs(url):
        return url
    return str(base / url)


def _spec(m: MapConfig, base: Path | None) -> Any:
    from reefdask.calval.maps import MapSpec

    return MapSpec(
        url=_resolve(m.url, base) or m.url, level=m.level, variable=m.variable, field=m.field, nodata=m.nodata
    )


def run_calval(
    config: CalvalConfig | str | Path,
    *,
    base_dir: str | Path | None = None,
    echo: Callable[[str], Any] = lambda s: None,
) -> dict[str, Any]:
    """Evaluate and report every map of ``config``; return the report paths and the ranking.

    ``config`` may be a path (relative paths inside it are read from its folder) or a
    validated :class:`CalvalConfig` (relative paths read from ``base_dir``, default: cwd).
    """
    from reefdask.calval.evaluate import evaluate
    from reefdask.calval.report import compare_reports, write_report
    from reefdask.config import load_config

    if not isinstance(config, CalvalConfig):
        base_dir = Path(config).resolve().parent if base_dir is None else Path(base_dir)
        config = load_config(str(config), CalvalConfig)
    base = Path(base_dir) if base_dir is not None else None
    schema = None
    if config.schema_path:
        from reefdask.config import load_schema

        schema = load_schema(_resolve(config.schema_path, base))
    out = Path(_resolve(config.outdir, base) or config.outdir)
    reference = _spec(config.reference, base)
    reports: dict[str, Path] = {}
    for role, maps in (("model", config.models), ("baseline", config.baselines)):
        for m in maps:
            echo(f"evaluating {role} {m.name} ...")
            ev = evaluate(
                _spec(m, base),
                reference,
                schema=schema,
                level=config.level,
                sites=_resolve(config.sites, base),
                site_field=config.site_field,
                imagery=_resolve(config.imagery, base),
                align=config.align,
                positive=config.positive,
                name=m.name,
                chunks=config.chunks,
            )
            files = write_report(ev, out / m.name, role=role)
            reports[m.name] = files["json"]
            w = ev.means.get("weighted_f1")
            echo(f"  {m.name}: weighted F1 {w if w is None else round(w, 4)} -> {files['html']}")
    comparison = compare_reports(list(reports.values()), out / "comparison", title=config.title)
    import json

    ranking = json.loads(comparison["json"].read_text())["ranking"]
    return {"reports": reports, "comparison": comparison, "ranking": ranking, "outdir": out}
