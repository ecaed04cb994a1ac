"""``reefdask cluster``: inspect cluster profiles and the SLURM batch scripts they submit."""

from __future__ import annotations

from typing import Any

import typer

from reefdask.cli.app import app

__all__: list[str] = []

cluster_app = typer.Typer(
    help="Cluster profiles: list them, show one resolved, print its SLURM batch script.",
    no_args_is_help=True,
)
app.add_typer(cluster_app, name="cluster")

_SET = typer.Option(
    [],
    "--set",
    "-s",
    metavar="KEY=VALUE",
    help="Override a profile field (YAML value), e.g. --set walltime=02:00:00 --set max_jobs=4.",
)


def _overrides(pairs: list[str]) -> dict[str, Any]:
    import yaml

    from reefdask.errors import ConfigError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r} must be key=value, e.g. --set walltime=02:00:00.")
        # HH:MM:SS is a sexagesimal integer to YAML 1.1: keep time-like values as text
        parsed = yaml.safe_load(value)
        if ":" in value and isinstance(parsed, int | float):
            parsed = value
        out[key.strip()] = parsed
    return out


@cluster_app.command("script")
def script(
    profile: str = typer.Argument("slurm-gpu", help="Profile name (slurm-gpu, slurm-cpu or a site's own)."),
    set_: list[str] = _SET,
) -> None:
    """Print the exact batch script one worker job would submit. Nothing is submitted."""
    from reefdask.cluster import job_script

    typer.echo(job_script(profile, **_overrides(set_)), nl=False)


@cluster_app.command("info")
def info(
    profile: str = typer.Argument("local", help="Profile name."),
    set_: list[str] = _SET,
) -> None:
    """Print a profile as resolved (keyword > dask config > shipped defaults), as YAML."""
    import yaml

    from reefdask.cluster import SlurmProfile, resolve_profile
    from reefdask.cluster.slurm import lifetime_plan

    resolved = resolve_profile(profile, **_overrides(set_))
    data = {k.replace("_", "-"): v for k, v in resolved.model_dump(mode="json").items()}
    if isinstance(resolved, SlurmProfile):
        lifetime, stagger = lifetime_plan(resolved)
        data["worker-lifetime"] = f"{lifetime}s +/- {stagger}s"
        data["worker-resources"] = resolved.worker_resources()
    typer.echo(yaml.safe_dump(data, sort_keys=False), nl=False)


@cluster_app.command("list")
def list_() -> None:
    """List every profile dask config knows (shipped and site-defined)."""
    from reefdask.cluster import list_profiles, resolve_profile

    for name in list_profiles():
        typer.echo(f"{name}\t{resolve_profile(name).kind}")
