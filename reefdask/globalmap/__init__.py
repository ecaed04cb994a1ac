"""The global map: a quad inventory worked by any number of concurrent jobs.

Modules: :mod:`.config` (the run's configuration), :mod:`.statuses` (the quads as units
of the work layer: records and claims under ``state/quads``, and the quad status names
done / no_reef / corrupt / missing ...), :mod:`.mapstore` (the sparse Zarr on the quad
grid), :mod:`.quad` (one quad: halo, inference, products), :mod:`.plan` (run layout and
provenance; opens the run's store once), :mod:`.run` (the job loop), :mod:`.ensemble`
(averaging several models), :mod:`.progress` (counts, rate, ETA, map), :mod:`.export`
(COGs, VRT, STAC).
"""

from __future__ import annotations

from reefdask.globalmap.config import GlobalConfig
from reefdask.globalmap.statuses import STATUSES, read_statuses

__all__ = ["STATUSES", "GlobalConfig", "read_statuses"]
