"""The global map: a quad inventory worked by any number of concurrent jobs.

Modules: :mod:`.config` (the run's configuration), :mod:`.versioned` (conditional objects: GCS
generations, os.link on filesystems), :mod:`.leases` (expiring leases on
local/shared filesystems and GCS), :mod:`.state` (per-quad statuses in one listing),
:mod:`.mapstore` (the sparse Zarr on the quad grid), :mod:`.quad` (one quad: halo,
inference, products), :mod:`.plan` (run layout and provenance), :mod:`.run` (the job
loop), :mod:`.ensemble` (averaging several models), :mod:`.progress` (counts, rate, ETA,
map), :mod:`.export` (COGs, VRT, STAC).
"""

from __future__ import annotations

from reefdask.globalmap.config import GlobalConfig
from reefdask.globalmap.state import STATUSES, StatusStore

__all__ = ["STATUSES", "GlobalConfig", "StatusStore"]
