"""Where reefdask runs: a LocalCluster on a laptop or dask-jobqueue SLURM jobs, chosen by a profile.

- :func:`open_cluster` (:mod:`reefdask.cluster.session`): profile name -> connected client.
- :func:`resolve_profile` (:mod:`reefdask.cluster.profiles`): keyword > dask.config > shipped YAML.
- :func:`job_script` (:mod:`reefdask.cluster.slurm`): the exact SLURM batch script, nothing submitted.
"""

from __future__ import annotations

from typing import Any

from reefdask.cluster.keeper import JobKeeper
from reefdask.cluster.profiles import (
    LocalProfile,
    SlurmProfile,
    list_profiles,
    resolve_profile,
)
from reefdask.cluster.session import make_cluster, open_cluster

__all__ = [
    "JobKeeper",
    "LocalProfile",
    "SlurmProfile",
    "job_script",
    "list_profiles",
    "make_cluster",
    "open_cluster",
    "resolve_profile",
]


def job_script(profile: str = "slurm-gpu", **overrides: Any) -> str:
    """The batch script one worker job of ``profile`` would submit (nothing is started).

    Examples
    --------
    >>> script = job_script("slurm-gpu", walltime="01:00:00", partition="gpu", log_directory="/tmp/x")
    >>> "#SBATCH --gres=gpu:1" in script, "--lifetime 51m" in script, "--resources GPU=1" in script
    (True, True, True)
    """
    from reefdask.cluster.slurm import job_script as _render
    from reefdask.errors import ConfigError

    resolved = resolve_profile(profile, **overrides)
    if not isinstance(resolved, SlurmProfile):
        raise ConfigError(
            f"profile {profile!r} is a {resolved.kind} cluster: only SLURM profiles have a batch script "
            "(try slurm-gpu or slurm-cpu)."
        )
    return _render(resolved)
