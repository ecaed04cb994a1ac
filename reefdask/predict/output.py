"""The output store: template first, provenance in its attributes, aligned region writes.

The template (every array's metadata, coordinates and CRS, no data chunks) is written
with ``xarray.Dataset.to_zarr(compute=False)``; chunk tasks then write exactly their
own Zarr chunk with :func:`write_chunk`, which asserts the alignment. Unwritten chunks
read back as the fill value, which *is* the nodata value (255, or NaN for float32).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import numpy as np

from reefdask.errors import FingerprintMismatchError, StoreError
from reefdask.io.store import Store, open_store
from reefdask.predict.ledger import Ledger

__all__ = [
    "check_provenance",
    "check_writable",
    "ensure_template",
    "provenance",
    "read_provenance",
    "template",
    "write_chunk",
    "zarr_kwargs",
]

ATTR = "reefdask"
_ARRAYS: dict[tuple[str, str, str], Any] = {}
_LOCK = threading.Lock()


def zarr_kwargs(store: Store | str, storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Keyword arguments for xarray/zarr to address ``store`` (a local path, or its URL and options)."""
    st = open_store(store, storage_options)
    if st.local:
        return {"store": st.url_for("")}
    return {"store": st.url_for(""), "storage_options": st.storage_options}


def read_provenance(
    store: Store | str, storage_options: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The ``reefdask`` attributes of an existing output store, or None when there is no store."""
    from reefdask.errors import InputNotFoundError

    try:
        doc = json.loads(open_store(store, storage_options).read("zarr.json"))
    except InputNotFoundError:
        return None
    return dict(doc.get("attributes", {}).get(ATTR) or {})


def check_provenance(
    store: str, found: dict[str, Any], fingerprint: str, config: dict[str, Any], config_hash: str
) -> None:
    """Refuse to resume into a store made by another model, preprocessing or configuration."""
    if not found:
        raise StoreError(
            f"{store} exists but is not a reefdask prediction output; choose another store "
            "or pass overwrite=True (--overwrite) to replace it."
        )
    if found.get("fingerprint") != fingerprint:
        raise FingerprintMismatchError(
            f"{store} holds a prediction by model fingerprint {found.get('fingerprint')}, but this run's "
            f"model + preprocessing fingerprint is {fingerprint}. Use another store, or pass "
            "overwrite=True (--overwrite) to recompute it with this model."
        )
    if found.get("config_hash") != config_hash:
        old = found.get("config") or {}
        diff = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
        raise FingerprintMismatchError(
            f"{store} was made with configuration {found.get('config_hash')} but this run has "
            f"{config_hash} (differs in: {', '.join(diff) or 'unknown'}). Run with the same settings, "
            "use another store, or pass overwrite=True (--overwrite)."
        )


def template(plan: Any) -> tuple[Any, dict[str, Any]]:
    """The output Dataset template (lazy fill values, coordinates, CRS) and its Zarr encoding."""
    import dask.array as dsa
    import numpy as np
    import xarray as xr

    da, (_, h, w), c, n = plan.source, plan.shape, plan.chunk, plan.n_classes
    fill = 255 if plan.output_dtype == "uint8" else np.nan
    coords: dict[str, Any] = {"class": np.asarray(plan.class_codes, dtype="int32")}
    for dim, size in (("y", h), ("x", w)):
        coords[dim] = da.coords[dim].values if dim in da.coords else np.arange(size)
    if "spatial_ref" in da.coords:
        coords["spatial_ref"] = da.coords["spatial_ref"]
    p_attrs: dict[str, Any] = {
        "long_name": "class probability",
        "units": "percent" if fill == 255 else "1",
        "grid_mapping": "spatial_ref",
    }
    if fill == 255:
        p_attrs["nodata"] = 255
    ds = xr.Dataset(
        {
            "probabilities": (
                ("class", "y", "x"),
                dsa.full((n, h, w), fill, dtype=plan.output_dtype, chunks=(n, c, c)),
                p_attrs,
            ),
            "classes": (
                ("y", "x"),
                dsa.full((h, w), 255, dtype="uint8", chunks=(c, c)),
                {"long_name": "most likely class code", "nodata": 255, "grid_mapping": "spatial_ref"},
            ),
        },
        coords=coords,
    )
    from zarr.codecs import ZstdCodec

    # zstd level 1: ~20 % less CPU per chunk than zarr's default level 3 for ~2 % more bytes
    encoding = {
        "probabilities": {"chunks": (n, c, c), "fill_value": fill, "compressors": [ZstdCodec(level=1)]},
        "classes": {"chunks": (c, c), "fill_value": 255, "compressors": [ZstdCodec(level=1)]},
    }
    return ds, encoding


def provenance(plan: Any) -> dict[str, Any]:
    """The store's ``reefdask`` attributes: fingerprint, configuration, model, grid, version."""
    from reefdask import __version__

    return {
        "fingerprint": plan.fingerprint,
        "config_hash": plan.config_hash,
        "config": plan.config,
        "model": plan.model,
        "preprocessing": plan.preprocessing.to_dict(),
        "version": __version__,
        "grid": list(plan.grid),
        "chunk": plan.chunk,
        "scene": plan.scene,
        "model_info": plan.model_info,
    }


def ensure_template(
    store: Store,
    template: Any,
    encoding: dict[str, Any],
    provenance: dict[str, Any],
    overwrite: bool = False,
    attempts: int = 5,
) -> None:
    """Write the output template once, safely against a concurrent run doing the same.

    A new store is created with ``mode="w-"``; when a concurrent run created it first
    (or an earlier run stopped half-way), the missing parts are added with ``mode="a"``,
    which never deletes anything: identical metadata written twice is harmless. The
    ledger marker is written only after the template is complete. ``overwrite`` deletes
    the store first. Afterwards the store's provenance is checked again, so two runs
    with different models racing on a new store cannot mix their outputs.
    """
    ledger = Ledger(store)
    if overwrite:
        store.remove("", recursive=True)
    if not ledger.ready():
        ds = template.copy()
        ds.attrs[ATTR] = provenance
        kw = zarr_kwargs(store)
        for attempt in range(attempts):
            try:
                present = _arrays_present(kw)
                mode = "w-" if present is None else "a"
                enc = {k: v for k, v in encoding.items() if k not in (present or ())}
                ds.to_zarr(**kw, mode=mode, compute=False, zarr_format=3, consolidated=False, encoding=enc)
                break
            except Exception as err:  # lost a race with another process creating the same nodes
                if attempt == attempts - 1:
                    raise StoreError(f"Cannot write the output template to {store.url}: {err}") from err
                time.sleep(0.2 * (attempt + 1))
        ledger.mark_ready()
    found = read_provenance(store) or {}
    check_provenance(
        store.url, found, provenance["fingerprint"], provenance.get("config", {}), provenance["config_hash"]
    )


def check_writable(store: Store, run_id: str) -> None:
    """Refuse a store that cannot be written before any chunk is computed.

    Publishes and removes one tiny probe object. Later write failures of single chunks
    do not stop a run: they are recorded ``failed`` in the ledger and retried by a rerun.
    """
    key = f"_ledger/write-probe-{run_id}"  # inside the ledger group: Zarr never lists it
    try:
        store.publish(key, b"reefdask")
        store.remove(key)
    except Exception as err:
        raise StoreError(
            f"Cannot write to the output store {store.url} ({type(err).__name__}: {err}); "
            "check its permissions or credentials, or choose another --out."
        ) from err


def _arrays_present(kw: dict[str, Any]) -> set[str] | None:
    """Names of the arrays of an existing store, or None when there is no store yet."""
    import zarr

    try:
        group = zarr.open_group(
            kw["store"], mode="r", zarr_format=3, storage_options=kw.get("storage_options")
        )
    except FileNotFoundError:
        return None
    except Exception as err:  # zarr raises its own "not found" types
        if "NotFound" in type(err).__name__ or "not found" in str(err).lower():
            return None
        raise
    return set(group.array_keys())


def _array(store: Store, name: str, token: str) -> Any:
    key = (store.url, name, token)
    arr = _ARRAYS.get(key)
    if arr is None:
        import zarr

        with _LOCK:
            kw = zarr_kwargs(store)
            group = zarr.open_group(
                kw["store"], mode="r+", zarr_format=3, storage_options=kw.get("storage_options")
            )
            # every task writes a whole chunk: skip zarr's per-chunk "equals the fill value?"
            # scan (~80 ms per 14 MB chunk); an all-nodata chunk is then stored, tiny once compressed
            arr = _ARRAYS[key] = group[name].with_config({"write_empty_chunks": True})
    return arr


def write_chunk(
    store: Store, name: str, region: tuple[slice, ...], block: np.ndarray, *, token: str = ""
) -> None:
    """Write ``block`` into ``region`` of array ``name``: exactly one Zarr chunk, asserted.

    ``token`` keys the per-process cache of open arrays (the config hash), so a store
    rewritten with another layout is reopened.
    """
    arr = _array(store, name, token)
    for sl, size, step in zip(region, arr.shape, arr.chunks, strict=True):
        start, stop = sl.start or 0, size if sl.stop is None else sl.stop
        assert start % step == 0 and (stop - start == step or stop == size), (
            f"region {region} of {name} is not aligned to its Zarr chunks {arr.chunks}"
        )
    assert block.shape == tuple(
        (s.stop or n) - (s.start or 0) for s, n in zip(region, arr.shape, strict=True)
    )
    arr[region] = block
