"""Cluster profiles: shipped YAML defaults in ``dask.config``, resolved in one place.

A profile is a short declaration (``kind`` plus options) under the ``reefdask.cluster.profiles``
namespace of :mod:`dask.config`. The shipped profiles (``local``, ``slurm-cpu``, ``slurm-gpu``)
live in ``reefdask/data/cluster/*.yaml`` inside the package, so an installed reefdask finds them;
``cluster/*.yaml`` in the repository are identical, documented copies for sites to start from
(a test keeps them equal). They are registered with :func:`dask.config.update_defaults`, so
every ordinary dask configuration source overrides them:

- a site YAML file in a dask config directory (``~/.config/dask/``, ``$DASK_CONFIG``)::

      reefdask: {cluster: {profiles: {slurm-gpu: {partition: a100, account: reef}}}}

- an environment variable: ``DASK_REEFDASK__CLUSTER__PROFILES__SLURM_GPU__PARTITION=a100``;
- a keyword of :func:`resolve_profile` / :func:`reefdask.cluster.open_cluster`.

Precedence is keyword > dask.config > shipped defaults, and :func:`resolve_profile` is the
only function that applies it. A site adds its own profile with ``extends: slurm-gpu`` and
only the fields that differ.

Examples
--------
>>> p = resolve_profile("slurm-gpu", partition="a100", max_jobs=4)
>>> p.kind, p.partition, p.max_jobs, p.gpus
('slurm', 'a100', 4, 1)
>>> resolve_profile("local", n_workers=2).n_workers
2
>>> resolve_profile("slurm-gpu", max_jbos=4)
Traceback (most recent call last):
...
reefdask.errors.ConfigError: cluster profile 'slurm-gpu' is invalid:
  - max_jbos: unknown key; did you mean 'max_jobs'? ...
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from importlib import resources
from typing import Annotated, Any, Literal

import dask.config
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from reefdask.errors import ConfigError

__all__ = [
    "CONFIG_KEY",
    "LocalProfile",
    "SlurmProfile",
    "Profile",
    "SHIPPED_PROFILES",
    "list_profiles",
    "register_defaults",
    "resolve_profile",
    "shipped_yaml",
]

CONFIG_KEY = "reefdask.cluster.profiles"
SHIPPED_PROFILES = ("local", "slurm-cpu", "slurm-gpu")
_MAX_EXTENDS = 8


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Profile name under reefdask.cluster.profiles.")
    resources: dict[str, float] = Field(default_factory=dict, description="Worker resources.")
    dashboard_address: str | None = Field(None, description="host:port of the dashboard.")
    local_directory: str | None = Field(None, description="Worker scratch directory.")
    tls: bool = Field(False, description="TLS between scheduler, workers and client.")


class LocalProfile(_Base):
    """A :class:`distributed.LocalCluster` on this machine."""

    kind: Literal["local"] = "local"
    n_workers: int | None = Field(None, ge=1, description="Worker processes; None: sized to the machine.")
    threads_per_worker: int | None = Field(None, ge=1)
    processes: bool = True
    memory_limit: str | float | None = "auto"
    host: str = "127.0.0.1"


class SlurmProfile(_Base):
    """dask-jobqueue SLURM jobs; see ``reefdask/data/cluster/slurm-gpu.yaml`` for each field."""

    kind: Literal["slurm"] = "slurm"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    cores: int = Field(1, ge=1)
    memory: str = "4GB"
    processes: int = Field(1, ge=1)
    gpus: int = Field(0, ge=0)
    gpu_directive: Literal["gres", "gpus-per-task"] = "gres"
    walltime: str = "01:00:00"
    lifetime: str | None = None
    lifetime_stagger: str | None = None
    lifetime_margin: str | None = None
    min_jobs: int = Field(0, ge=0)
    max_jobs: int = Field(1, ge=1)
    adaptive: bool = True
    prologue: list[str] = Field(default_factory=list)
    job_extra_directives: list[str] = Field(default_factory=list)
    worker_extra_args: list[str] = Field(default_factory=list)
    python: str | None = None
    interface: str | None = None
    log_directory: str | None = None
    death_timeout: int | str | None = 60
    shared_temp_directory: str | None = None
    job_name: str = "reefdask"
    replace_after: str = Field("10s", description="A lost worker's job is replaced after this long.")

    def worker_resources(self) -> dict[str, float]:
        """Resources each worker advertises: ``GPU`` = ``gpus``, plus ``resources``."""
        out = {"GPU": float(self.gpus)} if self.gpus else {}
        out.update(self.resources)
        return out


Profile = Annotated[LocalProfile | SlurmProfile, Field(discriminator="kind")]
_ADAPTER: TypeAdapter[LocalProfile | SlurmProfile] = TypeAdapter(Profile)


def shipped_yaml(name: str) -> str:
    """Text of a shipped profile YAML (``reefdask/data/cluster/<name>.yaml``)."""
    return (resources.files("reefdask") / "data" / "cluster" / f"{name}.yaml").read_text()


_registered = False


def register_defaults() -> None:
    """Put the shipped profiles into dask.config as defaults (idempotent, survives ``refresh``)."""
    global _registered
    if _registered:
        return
    for name in SHIPPED_PROFILES:
        dask.config.update_defaults(yaml.safe_load(shipped_yaml(name)))
    _registered = True


def _canonical(key: str) -> str:
    return str(key).replace("-", "_")


def _configured() -> dict[str, Any]:
    register_defaults()
    profiles = dask.config.get(CONFIG_KEY, default={}) or {}
    # dask keeps a key as first written (slurm-gpu or slurm_gpu); profile names use hyphens
    return {str(k).replace("_", "-"): v for k, v in profiles.items()}


def list_profiles() -> list[str]:
    """Names of every profile dask.config knows (shipped and site-defined)."""
    return sorted(_configured())


def _lookup(name: str, profiles: Mapping[str, Any], seen: tuple[str, ...] = ()) -> dict[str, Any]:
    key = name.replace("_", "-")
    if key not in profiles:
        close = difflib.get_close_matches(key, list(profiles), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown cluster profile {name!r}; {hint}known profiles: {', '.join(sorted(profiles))}. "
            f"Define it under {CONFIG_KEY}.{key} in a dask config file (e.g. ~/.config/dask/reefdask.yaml)."
        )
    raw = profiles[key]
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{CONFIG_KEY}.{key} must be a mapping of options, not {type(raw).__name__}.")
    data = {_canonical(k): v for k, v in raw.items()}
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if key in seen or len(seen) > _MAX_EXTENDS:
        raise ConfigError(f"cluster profiles extend each other in a loop: {' -> '.join((*seen, key))}.")
    return {**_lookup(str(parent), profiles, (*seen, key)), **data}


def resolve_profile(profile: str = "local", **overrides: Any) -> LocalProfile | SlurmProfile:
    """The one place where a profile's fields are resolved.

    Parameters
    ----------
    profile
        Profile name under ``reefdask.cluster.profiles`` (``local``, ``slurm-cpu``, ``slurm-gpu``
        or a site's own).
    **overrides
        Field values that win over dask.config and the shipped defaults (``max_jobs=4``;
        hyphens or underscores).

    Returns
    -------
    LocalProfile or SlurmProfile
        Validated and immutable.

    Raises
    ------
    ConfigError
        Unknown profile, unknown key (with the closest valid one) or a wrong type.
    """
    data = _lookup(profile, _configured())
    data.update({_canonical(k): v for k, v in overrides.items()})
    data["name"] = profile
    data.setdefault("kind", "local")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as err:
        model = SlurmProfile if data.get("kind") == "slurm" else LocalProfile
        lines = [_describe(e, model) for e in err.errors()]
        raise ConfigError(f"cluster profile {profile!r} is invalid:\n" + "\n".join(lines)) from None


def _describe(error: Any, model: type[BaseModel]) -> str:
    loc = [str(p) for p in error["loc"] if str(p) not in ("local", "slurm")]
    path = ".".join(loc) or "<root>"
    if error["type"] == "extra_forbidden":
        valid = [f for f in model.model_fields if f != "name"]
        close = difflib.get_close_matches(loc[-1], valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"  - {path}: unknown key; {hint}valid keys: {', '.join(valid)}"
    if error["type"] == "union_tag_invalid":
        return f"  - kind: must be 'local' or 'slurm' (got {_data_kind(error)!r})"
    return f"  - {path}: {error['msg']} (got {error.get('input')!r})"


def _data_kind(error: Any) -> Any:
    """The rejected ``kind`` of a discriminator error (for the message)."""
    ctx = error.get("ctx") or {}
    return ctx.get("tag", error.get("input"))
