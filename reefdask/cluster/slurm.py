"""From a SLURM profile to dask-jobqueue keywords, and the exact batch script they make.

The machinery is dask-jobqueue's: this module only translates a :class:`SlurmProfile` into
``SLURMCluster`` keywords (GPU directive, worker resources, lifetime below the walltime,
node-local scratch, prologue) and renders the batch script without starting anything.

Examples
--------
>>> parse_walltime("01:30:00"), parse_walltime("2-00"), parse_walltime("45")
(5400, 172800, 2700)
>>> from reefdask.cluster.profiles import resolve_profile
>>> lifetime_plan(resolve_profile("slurm-gpu", walltime="01:00:00"))
(3060, 180)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from dask.utils import parse_timedelta

from reefdask.cluster.profiles import SlurmProfile
from reefdask.errors import ConfigError

__all__ = [
    "cluster_kwargs",
    "default_log_directory",
    "job_kwargs",
    "job_script",
    "lifetime_plan",
    "parse_walltime",
]

_WALLTIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
SCRIPT_SCHEDULER = "tcp://<scheduler-address>:<port>"


def parse_walltime(text: str) -> int:
    """Seconds in a SLURM time limit (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM[:SS]``)."""
    m = _WALLTIME.match(str(text).strip())
    if m is None:
        raise ConfigError(
            f"walltime {text!r} is not a SLURM time limit: write HH:MM:SS (e.g. '04:00:00') or D-HH:MM:SS."
        )
    days, a, b, c = m.groups()
    if days is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        hms = [int(a), int(b or 0), int(c or 0)]
        return int(days) * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
    parts = [int(p) for p in (a, b, c) if p is not None]
    if len(parts) == 1:  # minutes
        return parts[0] * 60
    if len(parts) == 2:  # MM:SS
        return parts[0] * 60 + parts[1]
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def _seconds(value: str | None, field: str) -> float | None:
    if value is None:
        return None
    try:
        return float(parse_timedelta(value))
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{field} {value!r} is not a duration: write e.g. '55m', '90s' or '1h'.") from None


def lifetime_plan(profile: SlurmProfile) -> tuple[int, int]:
    """Worker ``(lifetime, stagger)`` in seconds, so every worker drains before SLURM's kill.

    A worker closes at ``lifetime ± stagger`` after it starts; unless given, ``stagger`` is 5 %
    of the walltime (at most 5 min), the margin left to hand work back is 10 % (at most 10 min)
    and ``lifetime = walltime - margin - stagger``.
    """
    walltime = parse_walltime(profile.walltime)
    margin = _seconds(profile.lifetime_margin, "lifetime-margin")
    stagger = _seconds(profile.lifetime_stagger, "lifetime-stagger")
    lifetime = _seconds(profile.lifetime, "lifetime")
    margin = min(600.0, 0.10 * walltime) if margin is None else margin
    stagger = min(300.0, 0.05 * walltime) if stagger is None else stagger
    lifetime = walltime - margin - stagger if lifetime is None else lifetime
    if lifetime <= 0 or lifetime + stagger >= walltime:
        raise ConfigError(
            f"profile {profile.name!r}: worker lifetime {lifetime:.0f}s + stagger {stagger:.0f}s must end "
            f"before the walltime {profile.walltime} ({walltime}s): lower lifetime/lifetime-stagger "
            "or raise walltime."
        )
    return int(lifetime), int(stagger)


def _duration(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 and seconds else f"{seconds}s"


def default_log_directory(profile: SlurmProfile, run_log_dir: str | os.PathLike[str] | None) -> str:
    """Job log folder: the profile's, else ``<run log dir>/slurm``, else ``./reefdask-slurm-logs``."""
    if profile.log_directory:
        return os.path.expanduser(profile.log_directory)
    if run_log_dir is not None:
        return str(Path(run_log_dir) / "slurm")
    return str(Path.cwd() / "reefdask-slurm-logs")


def job_kwargs(profile: SlurmProfile, *, log_directory: str) -> dict[str, Any]:
    """Keywords of ``dask_jobqueue.slurm.SLURMJob`` (and ``SLURMCluster``) for ``profile``."""
    if profile.gpus and profile.processes != 1:
        raise ConfigError(
            f"profile {profile.name!r}: gpus={profile.gpus} needs processes: 1 (one worker process owns "
            "the job's GPUs); ask for more jobs instead of more processes."
        )
    directives = []
    if profile.qos:
        directives.append(f"--qos={profile.qos}")
    if profile.gpus:
        flag = "--gres=gpu:" if profile.gpu_directive == "gres" else "--gpus-per-task="
        directives.append(f"{flag}{profile.gpus}")
    directives += profile.job_extra_directives

    lifetime, stagger = lifetime_plan(profile)
    args = ["--lifetime", _duration(lifetime), "--lifetime-stagger", _duration(stagger)]
    res = profile.worker_resources()
    if res:
        args += ["--resources", ",".join(f"{k}={v:g}" for k, v in res.items())]
    args += profile.worker_extra_args

    return {
        "cores": profile.cores,
        "memory": profile.memory,
        "processes": profile.processes,
        "queue": profile.partition,
        "account": profile.account,
        "walltime": profile.walltime,
        "job_extra_directives": directives,
        "job_script_prologue": list(profile.prologue),
        "worker_extra_args": args,
        "local_directory": profile.local_directory,
        "log_directory": log_directory,
        "death_timeout": profile.death_timeout,
        "python": profile.python,
        "job_name": profile.job_name,
        "interface": profile.interface,
    }


def _scheduler_host(profile: SlurmProfile) -> str:
    from distributed.utils import get_ip, get_ip_interface

    return get_ip_interface(profile.interface) if profile.interface else get_ip()


def cluster_kwargs(profile: SlurmProfile, *, log_directory: str, security: Any = None) -> dict[str, Any]:
    """Keywords of ``dask_jobqueue.SLURMCluster``: the job's, plus where the scheduler listens.

    The scheduler and the dashboard listen on one address only: the profile's ``interface``
    (or the address of this host's name), never on every interface.
    """
    kw = job_kwargs(profile, log_directory=log_directory)
    host = _scheduler_host(profile)
    options: dict[str, Any] = {"dashboard_address": profile.dashboard_address or f"{host}:8787"}
    if not profile.interface:
        options["host"] = host
    kw["scheduler_options"] = options
    if security is not None:
        kw["security"] = security
        kw["shared_temp_directory"] = profile.shared_temp_directory or log_directory
    return kw


def job_script(profile: SlurmProfile) -> str:
    """The exact batch script a worker job of ``profile`` submits; nothing starts or is submitted.

    The scheduler address (and with ``tls`` the certificate paths) are known only once the
    scheduler runs: the script shows placeholders there.
    """
    from dask_jobqueue.slurm import SLURMJob

    log_directory = default_log_directory(profile, None)
    kw = job_kwargs(profile, log_directory=log_directory)
    security = None
    scheduler = SCRIPT_SCHEDULER
    if profile.tls:
        from distributed.security import Security

        where = profile.shared_temp_directory or log_directory
        security = Security(
            tls_ca_file=f"{where}/.dask-jobqueue.worker.ca_file.<random>",
            tls_worker_cert=f"{where}/.dask-jobqueue.worker.cert.<random>",
            tls_worker_key=f"{where}/.dask-jobqueue.worker.key.<random>",
            require_encryption=True,
        )
        kw.update(protocol="tls://", security=security)
        scheduler = scheduler.replace("tcp://", "tls://")
    # dask-jobqueue creates the log directory when it builds a job: remove what we made
    created = []
    path = Path(log_directory)
    while not path.exists():
        created.append(path)
        path = path.parent
    try:
        return str(SLURMJob(scheduler=scheduler, name="<worker-name>", **kw).job_script())
    finally:
        for p in created:
            if p.is_dir() and not any(p.iterdir()):
                p.rmdir()
