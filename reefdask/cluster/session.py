"""``open_cluster``: the one entry point from a profile name to a connected ``distributed.Client``.

What happens when SLURM workers reach their ``--lifetime`` (checked on a real one-node SLURM
with dask-jobqueue 0.9 and distributed 2026.8; dask-jobqueue issue 691 reported that
jobs were not resubmitted): a worker that closes gracefully hands its results back, its job
ends, and ``distributed.deploy.lost-worker-timeout`` later the cluster forgets the job. An
*adaptive* cluster then sees fewer requested jobs than planned and submits a replacement:
with these versions adaptive runs do get new jobs. A *fixed-size* cluster (``adaptive:
false``) has no such loop: :class:`~reefdask.cluster.keeper.JobKeeper` calls
``cluster.scale(jobs=n)`` whenever a job has gone, so fixed runs outlive their jobs too; it also
catches jobs that end before their worker connects (and stops after three). ``replace-after``
(profile field) sets the lost-worker timeout for the cluster's lifetime, so a replacement
starts within seconds.
Work in flight on a worker that dies is recomputed by the scheduler, and the prediction
ledger makes a rerun do only what is left.

Examples
--------
>>> with open_cluster("local", n_workers=1, threads_per_worker=1, processes=False,
...                   dashboard_address=":0", quiet=True) as client:
...     client.submit(sum, [1, 2, 3]).result()
6
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask.config
from distributed import Client, LocalCluster

from reefdask.cluster.keeper import JobKeeper
from reefdask.cluster.profiles import LocalProfile, SlurmProfile, resolve_profile
from reefdask.cluster.slurm import cluster_kwargs, default_log_directory

__all__ = ["dashboard_link", "make_cluster", "open_cluster"]


def _security(profile: LocalProfile | SlurmProfile) -> Any:
    if not profile.tls:
        return None
    from distributed.security import Security

    return Security.temporary()


def make_cluster(
    profile: LocalProfile | SlurmProfile, *, log_dir: str | os.PathLike[str] | None = None
) -> Any:
    """Start the cluster a resolved profile describes (no workers yet for SLURM: see :func:`open_cluster`)."""
    security = _security(profile)
    if isinstance(profile, LocalProfile):
        return LocalCluster(
            n_workers=profile.n_workers,
            threads_per_worker=profile.threads_per_worker,
            processes=profile.processes,
            memory_limit=profile.memory_limit,
            resources=profile.resources or None,
            # threads only: in-process comms, nothing listens but the dashboard
            host=profile.host if profile.processes or security is not None else None,
            dashboard_address=profile.dashboard_address,
            local_directory=profile.local_directory,
            security=security,
            protocol="tls://" if security is not None else None,
        )
    from dask_jobqueue import SLURMCluster

    logs = default_log_directory(profile, log_dir)
    kwargs = cluster_kwargs(profile, log_directory=logs, security=security)
    for folder in (logs, kwargs.get("shared_temp_directory")):
        if folder:  # dask-jobqueue writes TLS keys there before it creates the log folder
            Path(os.path.expandvars(os.path.expanduser(folder))).mkdir(parents=True, exist_ok=True)
    return SLURMCluster(**kwargs)


def _remove_tls_files(cluster: Any) -> None:
    """Delete the temporary TLS key files dask-jobqueue wrote for the workers (it keeps them open)."""
    for attr in ("_job_ca_file", "_job_cert", "_job_key"):
        handle = getattr(cluster, attr, None)
        if handle is not None and hasattr(handle, "close"):
            handle.close()  # a NamedTemporaryFile: closing deletes it


def dashboard_link(profile: LocalProfile | SlurmProfile, client: Client) -> str:
    """The dashboard's URL, on the host it really listens on (the profile's, else the scheduler's)."""
    host = (profile.dashboard_address or "").rpartition(":")[0].strip("[]")
    port = client.scheduler_info().get("services", {}).get("dashboard")
    if host in ("", "0.0.0.0", "::") or port is None:
        return str(client.dashboard_link)
    return f"http://{host}:{port}/status"


def _announce(profile: LocalProfile | SlurmProfile, client: Client, log_dir: Any, quiet: bool) -> None:
    line = (
        f"reefdask cluster {profile.name!r} ({profile.kind}): scheduler {client.scheduler.address} "
        f"dashboard {dashboard_link(profile, client)}"
    )
    if not quiet:
        print(line, file=sys.stderr, flush=True)
    if log_dir is not None:
        path = Path(log_dir)
        path.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with open(path / "cluster.log", "a") as f:
            f.write(f"{stamp} {line}\n")


@contextlib.contextmanager
def open_cluster(
    profile: str = "local",
    *,
    log_dir: str | os.PathLike[str] | None = None,
    quiet: bool = False,
    **overrides: Any,
) -> Iterator[Client]:
    """Start the cluster of ``profile``, yield a connected client, and tear everything down.

    Parameters
    ----------
    profile
        ``local`` (the default: a LocalCluster sized to this machine), ``slurm-gpu``,
        ``slurm-cpu`` or a site's own profile (see :mod:`reefdask.cluster.profiles`).
    log_dir
        The run's log folder: the scheduler and dashboard addresses are appended to
        ``<log_dir>/cluster.log`` and SLURM job logs go to ``<log_dir>/slurm``.
    quiet
        Do not print the dashboard address on stderr.
    **overrides
        Profile fields that win over dask.config (``max_jobs=4``, ``partition="gpu"``).

    Yields
    ------
    distributed.Client
        Closed on exit, with the cluster; SLURM jobs are cancelled.
    """
    resolved = resolve_profile(profile, **overrides)
    with contextlib.ExitStack() as stack:
        if isinstance(resolved, SlurmProfile):
            stack.enter_context(
                dask.config.set({"distributed.deploy.lost-worker-timeout": resolved.replace_after})
            )
        cluster = make_cluster(resolved, log_dir=log_dir)
        stack.callback(_remove_tls_files, cluster)
        stack.enter_context(cluster)
        client = stack.enter_context(Client(cluster))
        if isinstance(resolved, SlurmProfile):
            if resolved.adaptive:
                cluster.adapt(minimum_jobs=resolved.min_jobs, maximum_jobs=resolved.max_jobs)
            else:
                cluster.scale(jobs=resolved.max_jobs)
            log_file = Path(log_dir) / "cluster.log" if log_dir is not None else None
            keeper = JobKeeper(cluster, None if resolved.adaptive else resolved.max_jobs, log_file=log_file)
            keeper.start()
            stack.callback(keeper.stop)
        _announce(resolved, client, log_dir, quiet)
        yield client
