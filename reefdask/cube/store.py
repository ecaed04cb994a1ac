"""Zarr v3 imagery cubes: one group per scene, written chunk by chunk, resumable.

Layout of a cube store (any fsspec URL)::

    STORE/zarr.json                 root group; attrs["reefdask_cube"]: bands, dtype, CRS
    STORE/<scene>/zarr.json         group attrs: provenance (``reefdask_scene``, source, ...)
    STORE/<scene>/imagery           (band, y, x) array, chunks (all bands, chunk, chunk)
    STORE/<scene>/{band,y,x,spatial_ref}   coordinates (CRS + transform, rioxarray style)
    STORE/_ingest/<scene>.done.json completion records of the work layer (:mod:`.scenes`)
    STORE/_ingest/_claims/<scene>   the claim of the job writing the scene

A scene id is the quad id when the file is named after one (``L15-0123E-0456N.tif``),
else the file's stem. Each scene is a unit of work (:mod:`reefdask.work`): a job claims
it, writes the template (metadata, coordinates), then the data, chunk by chunk, with
Dask, and records it done only after every chunk of the scene is stored (through its
claim: a job that lost its claim records nothing). A run that is killed leaves at worst
a scene without a record: the next run redoes exactly those and skips the complete
ones, and :func:`open_cube` refuses them. Cubes written before the work layer (scene
attribute ``reefdask_status = "complete"``) still read.

Every scene opens with plain xarray::

    xr.open_zarr(STORE, group=SCENE, consolidated=False, zarr_format=3)
"""

from __future__ import annotations

import os
from typing import Any

import xarray as xr
import zarr

from reefdask.core.grid import Quad
from reefdask.cube.scenes import LEGACY_STATUS_KEY, done_scenes, is_complete, status_of
from reefdask.errors import ConfigError, StoreError
from reefdask.io.storage import storage_options_for
from reefdask.io.store import open_store
from reefdask.io.zarr_imagery import open_zarr_group, register_zarr_layout, zarr_attrs

__all__ = [
    "CUBE_KEY",
    "SCENE_KEY",
    "STATUS_KEY",
    "cube_attrs",
    "list_scenes",
    "open_cube",
    "open_zarr_imagery",
    "scene_id",
]

#: root-group attribute describing the cube (bands, dtype, CRS all scenes share)
CUBE_KEY = "reefdask_cube"
#: scene-group attribute of cubes written before the work layer ("writing" / "complete"); read only
STATUS_KEY = LEGACY_STATUS_KEY
#: scene-group attribute naming the scene (marks a group as a cube scene)
SCENE_KEY = "reefdask_scene"


def scene_id(url: str) -> str:
    """The scene id of a source: its quad id when it is named after one, else its stem.

    >>> scene_id("gs://b/mosaic/belize/L15-0123E-0456N.tif"), scene_id("/data/reef site.tif")
    ('L15-0123E-0456N', 'reef_site')
    """
    stem = os.path.basename(str(url).rstrip("/"))
    for ext in (".tiff", ".tif", ".vrt", ".zarr", ".jp2", ".img"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    try:
        return str(Quad.parse(stem))
    except ValueError:
        pass
    clean = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem).lstrip(".")
    if not clean:
        raise ConfigError(f"Cannot derive a scene id from {url!r}; rename the file to a plain name.")
    return clean


def _root(store: str, storage_options: dict[str, Any] | None, mode: str = "r") -> Any:
    opts = storage_options_for(store, storage_options) or None
    try:
        return zarr.open_group(store, mode=mode, storage_options=opts if "://" in store else None)
    except FileNotFoundError as err:
        from reefdask.errors import InputNotFoundError

        raise InputNotFoundError(f"No Zarr store at {store}; ingest imagery into it first.") from err


def cube_attrs(store: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The cube description in the root group's attributes, or None when absent."""
    try:
        root = _root(store, storage_options)
    except FileNotFoundError:
        return None
    value = root.attrs.get(CUBE_KEY)
    return dict(value) if value else None


def list_scenes(
    store: str, complete_only: bool = True, storage_options: dict[str, Any] | None = None
) -> list[str]:
    """Sorted scene ids of a cube; with ``complete_only`` only scenes whose data is complete."""
    store = os.fspath(store)
    try:
        root = _root(store, storage_options)
    except FileNotFoundError:
        return []
    groups = [(name, group) for name, group in root.groups() if not name.startswith("_")]
    if not complete_only:
        return sorted(name for name, _ in groups)
    done = done_scenes(open_store(store, storage_options))  # one listing of the records
    return sorted(name for name, group in groups if is_complete(None, name, dict(group.attrs), done))


def open_cube(
    store: str | os.PathLike[str],
    scene: str | None = None,
    *,
    chunks: int | tuple[int, int] | None = None,
    bands: Any = None,
    storage_options: dict[str, Any] | None = None,
) -> xr.DataArray:
    """Open one complete scene of a cube as a lazy ``(band, y, x)`` DataArray.

    ``scene=None`` opens the cube's only scene (an error names them when there are
    several). ``chunks=None`` keeps the store's chunks. Scenes still marked
    ``writing`` (an interrupted ingest) are refused with :class:`StoreError`.
    """
    store = os.fspath(store)
    if scene is None:
        scenes = list_scenes(store, storage_options=storage_options)
        if len(scenes) != 1:
            raise ConfigError(
                f"{store} holds {len(scenes)} complete scenes ({', '.join(scenes[:5])}"
                f"{'...' if len(scenes) > 5 else ''}); pass scene= (see list_scenes)."
            )
        scene = scenes[0]
    root = _root(store, storage_options)
    if scene not in root:
        raise ConfigError(f"{store} has no scene {scene!r}; choose one of list_scenes({store!r}).")
    cube = open_store(store, storage_options)
    attrs = dict(root[scene].attrs)
    if not is_complete(cube, scene, attrs):
        raise StoreError(
            f"Scene {scene!r} of {store} is incomplete (status {status_of(cube, scene, attrs)!r}: an ingest "
            "was interrupted or failed); rerun `reefdask ingest` on its source to finish it."
        )
    return open_zarr_group(store, scene, chunks, bands, storage_options_for(store, storage_options))


def open_zarr_imagery(
    url: str,
    *,
    chunks: tuple[int, int] | None = None,
    bands: Any = None,
    storage_options: dict[str, Any] | None = None,
) -> xr.DataArray:
    """Imagery from a Zarr group: a cube scene, a one-scene cube, or a group with one image.

    :func:`reefdask.io.open_imagery` reads cube scenes through :func:`_cube_layout`, which
    this module registers with :func:`reefdask.io.zarr_imagery.register_zarr_layout`.
    """
    opts = storage_options_for(url, storage_options)
    attrs = zarr_attrs(url, opts)
    da = _cube_layout(url, attrs, chunks, bands, opts)
    return da if da is not None else open_zarr_group(url, None, chunks, bands, opts)


@register_zarr_layout
def _cube_layout(
    url: str, attrs: dict[str, Any], chunks: Any, bands: Any, opts: dict[str, Any]
) -> xr.DataArray | None:
    """A cube scene (``STORE/SCENE``) or a one-scene cube, checked complete; None for other groups."""
    if SCENE_KEY in attrs or STATUS_KEY in attrs:  # a cube scene addressed directly: STORE/SCENE
        parent, scene = url.rstrip("/").rsplit("/", 1)
        return open_cube(parent, scene, chunks=chunks, bands=bands, storage_options=opts)
    if CUBE_KEY in attrs:
        return open_cube(url, None, chunks=chunks, bands=bands, storage_options=opts)
    return None
