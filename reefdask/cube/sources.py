"""What an ingest reads: source URLs expanded from patterns and folders, checked to agree.

:func:`expand_sources` turns a URL, glob pattern, folder or list of them into raster
URLs; :func:`check_compatible` refuses, before anything is written, scenes that disagree
on bands, dtype or CRS with each other or with the cube (whose description it records
in the root group the first time).
"""

from __future__ import annotations

import os
import time
from typing import Any

import xarray as xr
import zarr
from rasterio.crs import CRS

from reefdask.cube.store import CUBE_KEY
from reefdask.errors import ConfigError, IncompatibleScenesError
from reefdask.io.storage import filesystem, is_local, storage_options_for

__all__ = ["expand_sources", "check_compatible", "zarr_options"]

_RASTER_EXT = (".tif", ".tiff", ".vrt")


def expand_sources(sources: Any, storage_options: dict[str, Any] | None = None) -> list[str]:
    """Sources as a list of URLs: glob patterns and folders (of .tif/.tiff/.vrt) expanded."""
    items = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
    out: list[str] = []
    for item in (os.fspath(i) for i in items):
        fs, path = filesystem(item, storage_options)
        proto = "" if is_local(item) else item.split("://", 1)[0] + "://"
        if any(c in item for c in "*?["):
            found = sorted(fs.glob(path))
            if not found:
                raise ConfigError(f"No file matches {item!r}; check the pattern.")
            out += [proto + p if proto and "://" not in p else p for p in found]
        elif fs.isdir(path) and not fs.exists(f"{path.rstrip('/')}/zarr.json"):
            found = sorted(p for p in fs.find(path) if p.lower().endswith(_RASTER_EXT))
            if not found:
                raise ConfigError(f"{item} holds no .tif/.tiff/.vrt file; point to the imagery files.")
            out += [proto + p if proto and "://" not in p else p for p in found]
        else:
            out.append(item)
    return out


def zarr_options(store: str, opts: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``storage_options`` zarr wants for ``store`` (None for local paths)."""
    return (storage_options_for(store, opts) or None) if "://" in store else None


def signature(da: xr.DataArray) -> dict[str, Any]:
    """What every scene of a cube shares: bands, dtype, CRS."""
    return {
        "format": 1,
        "band_names": [str(n) for n in da.attrs["band_names"]],
        "dtype": str(da.dtype),
        "crs_wkt": da.rio.crs.to_wkt(),
    }


def _open_root(store: str, opts: dict[str, Any] | None) -> Any:
    """The cube's root group, created if absent; a concurrent job creating it too is fine."""
    for _ in range(5):
        try:
            return zarr.open_group(store, mode="a", storage_options=zarr_options(store, opts))
        except (zarr.errors.ContainsGroupError, ValueError):  # created (or half-written) by another job
            time.sleep(0.05)
    return zarr.open_group(store, mode="r+", storage_options=zarr_options(store, opts))


def check_compatible(todo: dict[str, xr.DataArray], store: str, opts: dict[str, Any] | None) -> None:
    """Refuse, before writing anything, scenes that disagree with each other or with the cube."""
    root = _open_root(store, opts)
    reference = root.attrs.get(CUBE_KEY)
    ref_name = f"the cube {store}"
    if not reference:
        first = next(iter(todo))
        reference, ref_name = signature(todo[first]), f"scene {first}"
    for sid, da in todo.items():
        sig = signature(da)
        for key, what in (("band_names", "bands"), ("dtype", "data type")):
            if sig[key] != reference[key]:
                raise IncompatibleScenesError(
                    f"Scene {sid} ({da.attrs['source']}) has {what} {sig[key]} but {ref_name} has "
                    f"{reference[key]}; select matching bands (open_imagery bands=) or ingest it into "
                    "another store."
                )
        if CRS.from_wkt(sig["crs_wkt"]) != CRS.from_wkt(reference["crs_wkt"]):
            raise IncompatibleScenesError(
                f"Scene {sid} ({da.attrs['source']}) is in {da.rio.crs} but {ref_name} is in "
                f"{CRS.from_wkt(reference['crs_wkt'])}; reproject it first or use another store."
            )
    if CUBE_KEY not in root.attrs:
        root.attrs[CUBE_KEY] = reference
