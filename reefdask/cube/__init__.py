"""Zarr v3 imagery cubes: layout and reading (:mod:`.store`), ingest (:mod:`.ingestion`)."""

from reefdask.cube.ingestion import COMPRESSIONS, IngestReport, expand_sources, ingest
from reefdask.cube.store import (
    CUBE_KEY,
    STATUS_KEY,
    cube_attrs,
    list_scenes,
    open_cube,
    open_zarr_imagery,
    scene_id,
)

__all__ = [
    "COMPRESSIONS",
    "CUBE_KEY",
    "STATUS_KEY",
    "IngestReport",
    "cube_attrs",
    "expand_sources",
    "ingest",
    "list_scenes",
    "open_cube",
    "open_zarr_imagery",
    "scene_id",
]
