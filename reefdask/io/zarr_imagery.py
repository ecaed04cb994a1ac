"""Imagery from Zarr groups, and the hook through which higher layers read their own layouts.

:func:`reefdask.io.open_imagery` sends directories here. A plain Zarr group with one
``(band, y, x)`` variable (named ``imagery``, or the only one) opens directly. A layout
that a higher layer owns, such as a reefdask cube (its scenes, their completion state),
is read by that layer: it registers a reader with :func:`register_zarr_layout` when it is
imported (:mod:`reefdask.cube.store` does), so this module never imports the layers above
it. A reader gets the group's attributes and returns a DataArray, or None when the group
is not its layout.

Examples
--------
>>> import numpy as np, xarray as xr, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "img.zarr")
>>> da = xr.DataArray(np.ones((2, 4, 4), "uint8"), dims=("band", "y", "x"), name="imagery",
...                   coords={"band": [1, 2], "y": np.arange(4.0), "x": np.arange(4.0)})
>>> da.rio.write_crs("EPSG:3857").to_dataset().to_zarr(path, zarr_format=3, consolidated=False)
<xarray.backends.zarr.ZarrStore object at ...>
>>> img = open_zarr_imagery(path, chunks=(2, 2), bands=[2])
>>> img.sizes["band"], img.chunks[1], img.rio.crs.to_epsg()
(1, (2, 2), 3857)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import xarray as xr

from reefdask.errors import MissingCRSError, NotARasterError
from reefdask.io.bands import BandSpec, band_selection, normalise_chunks
from reefdask.io.storage import storage_options_for

__all__ = ["ZarrLayout", "open_zarr_group", "open_zarr_imagery", "register_zarr_layout", "zarr_attrs"]

#: ``reader(url, attrs, chunks, bands, storage_options) -> DataArray | None``
ZarrLayout = Callable[[str, dict[str, Any], "tuple[int, int] | None", BandSpec, dict[str, Any]], Any]

_LAYOUTS: list[ZarrLayout] = []


def register_zarr_layout(reader: ZarrLayout) -> ZarrLayout:
    """Let :func:`open_zarr_imagery` read a layout through ``reader`` (registered once; returned).

    Readers are asked in the order they registered; the first that returns a DataArray wins.
    """
    if reader not in _LAYOUTS:
        _LAYOUTS.append(reader)
    return reader


def zarr_attrs(url: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The attributes of the Zarr group at ``url``; :class:`NotARasterError` when it is none."""
    import zarr

    opts = storage_options_for(url, storage_options) or None
    try:
        group = zarr.open_group(url, mode="r", storage_options=opts if "://" in url else None)
    except (FileNotFoundError, ValueError, zarr.errors.BaseZarrError) as err:
        raise NotARasterError(
            f"{url} is a directory but not a Zarr store ({err}); point to a raster file."
        ) from err
    return dict(group.attrs)


def open_zarr_imagery(
    url: str,
    *,
    chunks: tuple[int, int] | None = None,
    bands: BandSpec = None,
    storage_options: dict[str, Any] | None = None,
) -> xr.DataArray:
    """Imagery of a Zarr group: through the registered layout that claims it, else as a plain group."""
    opts = storage_options_for(url, storage_options)
    attrs = zarr_attrs(url, opts)
    for reader in _LAYOUTS:
        da = reader(url, attrs, chunks, bands, opts)
        if da is not None:
            return da
    return open_zarr_group(url, None, chunks, bands, opts)


def open_zarr_group(
    store: str, group: str | None, chunks: Any, bands: BandSpec, storage_options: dict[str, Any]
) -> xr.DataArray:
    """The ``(band, y, x)`` imagery of one group of a Zarr store, lazily, with its CRS.

    ``chunks=None`` keeps the store's chunks (whole bands per chunk). ``attrs`` carry
    ``band_names``, ``nodata`` (the ``_FillValue``, or what the writer recorded) and ``source``.
    """
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    ds = xr.open_zarr(
        store,
        group=group,
        consolidated=False,
        chunks={},
        storage_options=storage_options or None,
        mask_and_scale=False,
        decode_coords="all",
    )
    if "spatial_ref" in ds.data_vars:
        ds = ds.set_coords("spatial_ref")
    name = "imagery" if "imagery" in ds.data_vars else None
    if name is None:
        cands = [v for v, a in ds.data_vars.items() if a.dims == ("band", "y", "x")]
        if len(cands) != 1:
            where = f"{store}" + (f" (group {group})" if group else "")
            raise NotARasterError(
                f"{where} has no 'imagery' variable and {len(cands)} (band, y, x) variables "
                f"({list(ds.data_vars)}); name the image variable 'imagery'."
            )
        name = cands[0]
    da = ds[name]
    if da.rio.crs is None:
        raise MissingCRSError(
            f"{store} {group or ''}: the imagery has no CRS (no spatial_ref coordinate); "
            "write one with da.rio.write_crs(...) before storing it."
        )
    names = [str(n) for n in da.attrs.get("band_names", [f"band{int(b)}" for b in da["band"].values])]
    numbers = [int(b) for b in da["band"].values]
    picked = band_selection(bands, names, numbers, store)
    if picked != list(range(len(numbers))):
        da = da.isel(band=picked)
        names = [names[i] for i in picked]
    if chunks is not None:
        cy, cx = normalise_chunks(chunks)
        da = da.chunk({"band": -1, "y": cy, "x": cx})
    elif len(da.chunks[0]) > 1:
        da = da.chunk({"band": -1})
    attrs = dict(da.attrs)
    attrs.update(band_names=names, long_name=tuple(names))
    attrs.setdefault("nodata", attrs.get("_FillValue"))
    attrs["source"] = store if group is None else f"{store.rstrip('/')}/{group}"
    da.attrs = attrs
    return da
