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
from reefdask.io.storage import exists, filesystem, is_local, join, read_bytes, strip_protocol
from reefdask.predict.ledger import Ledger

__all__ = [
    "check_provenance",
    "check_writable",
    "ensure_template",
    "read_provenance",
    "write_chunk",
    "zarr_kwargs",
]

ATTR = "reefdask"
_ARRAYS: dict[tuple[str, str, str], Any] = {}
_LOCK = threading.Lock()


def zarr_kwargs(store: str, storage_options: dict[str, Any] | None) -> dict[str, Any]:
    """Keyword arguments for xarray/zarr to address ``store`` (local path or fsspec URL)."""
    from reefdask.io.storage import storage_options_for

    if is_local(store):
        return {"store": strip_protocol(store)}
    return {"store": store, "storage_options": storage_options_for(store, storage_options)}


def read_provenance(store: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The ``reefdask`` attributes of an existing output store, or None when there is no store."""
    url = join(store, "zarr.json")
    if not exists(url, storage_options):
        return None
    doc = json.loads(read_bytes(url, storage_options))
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


def ensure_template(
    store: str,
    template: Any,
    encoding: dict[str, Any],
    provenance: dict[str, Any],
    storage_options: dict[str, Any] | None = None,
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
    ledger = Ledger(store, storage_options)
    fs, path = filesystem(store, storage_options)
    if overwrite and fs.exists(path):
        fs.rm(path, recursive=True)
    if not ledger.ready():
        ds = template.copy()
        ds.attrs[ATTR] = provenance
        kw = zarr_kwargs(store, storage_options)
        for attempt in range(attempts):
            try:
                present = _arrays_present(kw)
                mode = "w-" if present is None else "a"
                enc = {k: v for k, v in encoding.items() if k not in (present or ())}
                ds.to_zarr(**kw, mode=mode, compute=False, zarr_format=3, consolidated=False, encoding=enc)
                break
            except Exception as err:  # lost a race with another process creating the same nodes
                if attempt == attempts - 1:
                    raise StoreError(f"Cannot write the output template to {store}: {err}") from err
                time.sleep(0.2 * (attempt + 1))
        ledger.mark_ready()
    found = read_provenance(store, storage_options) or {}
    check_provenance(
        store, found, provenance["fingerprint"], provenance.get("config", {}), provenance["config_hash"]
    )


def check_writable(store: str, run_id: str, storage_options: dict[str, Any] | None = None) -> None:
    """Refuse a store that cannot be written before any chunk is computed.

    Writes and deletes one tiny probe object. Later write failures of single chunks do
    not stop a run: they are recorded ``failed`` in the ledger and retried by a rerun.
    """
    from reefdask.io.storage import write_bytes_atomic

    url = join(store, f".write-probe-{run_id}")
    try:
        write_bytes_atomic(url, b"reefdask", storage_options)
        fs, path = filesystem(url, storage_options)
        fs.rm_file(path)
    except Exception as err:
        raise StoreError(
            f"Cannot write to the output store {store} ({type(err).__name__}: {err}); "
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


def _array(store: str, name: str, storage_options: dict[str, Any] | None, token: str) -> Any:
    key = (store, name, token)
    arr = _ARRAYS.get(key)
    if arr is None:
        import zarr

        with _LOCK:
            kw = zarr_kwargs(store, storage_options)
            group = zarr.open_group(
                kw["store"], mode="r+", zarr_format=3, storage_options=kw.get("storage_options")
            )
            # every task writes a whole chunk: skip zarr's per-chunk "equals the fill value?"
            # scan (~80 ms per 14 MB chunk); an all-nodata chunk is then stored, tiny once compressed
            arr = _ARRAYS[key] = group[name].with_config({"write_empty_chunks": True})
    return arr


def write_chunk(
    store: str,
    name: str,
    region: tuple[slice, ...],
    block: np.ndarray,
    *,
    storage_options: dict[str, Any] | None = None,
    token: str = "",
) -> None:
    """Write ``block`` into ``region`` of array ``name``: exactly one Zarr chunk, asserted.

    ``token`` keys the per-process cache of open arrays (the config hash), so a store
    rewritten with another layout is reopened.
    """
    arr = _array(store, name, storage_options, token)
    for sl, size, step in zip(region, arr.shape, arr.chunks, strict=True):
        start, stop = sl.start or 0, size if sl.stop is None else sl.stop
        assert start % step == 0 and (stop - start == step or stop == size), (
            f"region {region} of {name} is not aligned to its Zarr chunks {arr.chunks}"
        )
    assert block.shape == tuple(
        (s.stop or n) - (s.start or 0) for s, n in zip(region, arr.shape, strict=True)
    )
    arr[region] = block
