"""Ingest rasters into a Zarr v3 cube: parallel with Dask, chunk by chunk, resumable.

The layout and the completion protocol are described in :mod:`reefdask.cube`.
A run plans first (scene ids, what is complete already, compatibility of bands,
dtype and CRS across the cube), writes each scene's template, then computes, in
batches, one graph per batch in which each scene's ``complete`` mark depends on every
chunk write of that scene. Memory per task is one chunk of all bands: nothing
scene-sized is ever held.

A source that is missing or unreadable does not stop the run: it is recorded in
:attr:`IngestReport.failed` with its reason, and its scene stays incomplete.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dask
import numpy as np
import xarray as xr
import zarr
from rasterio.crs import CRS

from reefdask import __version__
from reefdask.cube.store import CUBE_KEY, STATUS_KEY, list_scenes, scene_id
from reefdask.errors import ConfigError, IncompatibleScenesError, ReefdaskError
from reefdask.io.rasters import open_imagery
from reefdask.io.storage import filesystem, is_local, storage_options_for, strip_protocol

__all__ = ["IngestReport", "ingest", "expand_sources", "COMPRESSIONS"]

#: Zarr codecs by name; ``deflate`` is zlib's DEFLATE, as GeoTIFF's
COMPRESSIONS = ("zstd", "deflate", "none")
_RASTER_EXT = (".tif", ".tiff", ".vrt")


@dataclass
class IngestReport:
    """What an :func:`ingest` run did, scene by scene."""

    store: str
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    duplicates: dict[str, str] = field(default_factory=dict)
    #: scenes found half-written (an interrupted run) and redone by this run
    resumed: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    bytes_written: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no scene failed."""
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form."""
        return {
            "store": self.store,
            "written": list(self.written),
            "skipped": list(self.skipped),
            "failed": dict(self.failed),
            "duplicates": dict(self.duplicates),
            "resumed": list(self.resumed),
            "sources": dict(self.sources),
            "bytes_written": self.bytes_written,
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        """One line per outcome, for people.

        >>> print(IngestReport("c.zarr", written=["a"], skipped=["b"], failed={"c": "bad"}).summary())
        c.zarr: 1 written, 1 already complete, 1 failed
          failed c: bad
        """
        lines = [
            f"{self.store}: {len(self.written)} written, {len(self.skipped)} already complete, "
            f"{len(self.failed)} failed"
            + (f" ({len(self.resumed)} resumed after an interruption)" if self.resumed else "")
        ]
        lines += [f"  failed {k}: {v}" for k, v in self.failed.items()]
        lines += [f"  duplicate {k} (same scene as {v})" for k, v in self.duplicates.items()]
        return "\n".join(lines)


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


def ingest(
    sources: Any,
    store: str | os.PathLike[str],
    *,
    chunk: int = 1024,
    overwrite: bool = False,
    client: Any = None,
    storage_options: dict[str, Any] | None = None,
    compression: str = "zstd",
    batch_size: int = 32,
    progress: Callable[[str | None, int], None] | None = None,
) -> IngestReport:
    """Write rasters into a Zarr v3 cube, one group per scene; skip scenes already complete.

    Parameters
    ----------
    sources
        A URL, a glob pattern, a folder, or a list of them (GeoTIFF/COG/VRT).
    store
        Local path or fsspec URL of the cube (created when absent).
    chunk
        Chunk size along ``y`` and ``x``; every chunk holds all bands.
    overwrite
        Rewrite scenes that are already complete.
    client
        A ``distributed.Client``; default the active one, else Dask's threaded scheduler.
    storage_options
        fsspec options for the sources and the store.
    compression
        ``"zstd"`` (default), ``"deflate"`` (zlib, as GeoTIFF's DEFLATE) or ``"none"``.
    batch_size
        Scenes per Dask graph (keeps graphs small for large inventories).
    progress
        Called as ``progress(None, n)`` once the ``n`` scenes to write are known, then
        ``progress(scene_id, n)`` as each of them is written or fails.

    Returns
    -------
    IngestReport

    Raises
    ------
    IncompatibleScenesError
        Scenes disagree on bands, dtype or CRS with each other or with the cube;
        raised before anything is written.
    """
    started = time.perf_counter()
    store = strip_protocol(os.fspath(store))
    if int(chunk) <= 0:
        raise ConfigError(f"chunk={chunk} must be a positive number of pixels, such as 1024.")
    if compression not in COMPRESSIONS:
        raise ConfigError(f"compression={compression!r} is not one of {COMPRESSIONS}.")
    report = IngestReport(store=store)
    complete = set(list_scenes(store, storage_options=storage_options))
    partial = set(list_scenes(store, complete_only=False, storage_options=storage_options)) - complete
    todo: dict[str, xr.DataArray] = {}
    for src in expand_sources(sources, storage_options):
        sid = scene_id(src)
        if sid in report.sources:
            report.duplicates[src] = sid
            continue
        report.sources[sid] = src
        if sid in complete and not overwrite:
            report.skipped.append(sid)
            continue
        try:
            todo[sid] = open_imagery(src, chunks=chunk, storage_options=storage_options)
        except ReefdaskError as err:
            report.failed[sid] = str(err)
    tick = _once(progress, len(todo))
    if todo:
        _check_compatible(todo, store, storage_options)
        names = list(todo)
        for i in range(0, len(names), max(1, batch_size)):
            batch = {n: todo[n] for n in names[i : i + batch_size]}
            _run_batch(batch, store, int(chunk), compression, client, storage_options, report, tick)
    report.resumed = [sid for sid in report.written if sid in partial]
    report.seconds = time.perf_counter() - started
    return report


def _signature(da: xr.DataArray) -> dict[str, Any]:
    return {
        "format": 1,
        "band_names": [str(n) for n in da.attrs["band_names"]],
        "dtype": str(da.dtype),
        "crs_wkt": da.rio.crs.to_wkt(),
    }


def _check_compatible(todo: dict[str, xr.DataArray], store: str, opts: dict[str, Any] | None) -> None:
    """Refuse, before writing anything, scenes that disagree with each other or with the cube."""
    root = zarr.open_group(store, mode="a", storage_options=_zopts(store, opts))
    reference = root.attrs.get(CUBE_KEY)
    ref_name = f"the cube {store}"
    if not reference:
        first = next(iter(todo))
        reference, ref_name = _signature(todo[first]), f"scene {first}"
    for sid, da in todo.items():
        sig = _signature(da)
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


def _zopts(store: str, opts: dict[str, Any] | None) -> dict[str, Any] | None:
    return (storage_options_for(store, opts) or None) if "://" in store else None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _template(da: xr.DataArray, sid: str, store: str, chunk: int, compression: str, opts: Any) -> Any:
    """Write the scene's metadata and coordinates (status ``writing``); return the data write."""
    from zarr.codecs import GzipCodec, ZstdCodec

    codecs = {"zstd": [ZstdCodec(level=3)], "deflate": [GzipCodec(level=6)], "none": []}[compression]
    transform = da.rio.transform()
    attrs = {k: v for k, v in da.attrs.items() if k not in ("long_name",)}
    image = da.copy()
    image.attrs = {**attrs, "long_name": list(da.attrs["band_names"])}
    # spatial_ref as a listed coordinate: plain xr.open_zarr then gives rioxarray its CRS
    image.encoding = {"coordinates": "spatial_ref"}
    ds = image.to_dataset(name="imagery")
    ds.attrs = {
        STATUS_KEY: "writing",
        "reefdask_scene": sid,
        "reefdask_source": da.attrs["source"],
        "reefdask_version": __version__,
        "reefdask_started": _now(),
        "band_names": list(da.attrs["band_names"]),
        "nodata": da.attrs.get("nodata"),
        "crs_wkt": da.rio.crs.to_wkt(),
        "transform": [transform.a, transform.b, transform.c, transform.d, transform.e, transform.f],
        "chunk": chunk,
    }
    encoding = {"imagery": {"chunks": (da.sizes["band"], chunk, chunk), "compressors": codecs}}
    return ds.to_zarr(
        store,
        group=sid,
        mode="w",
        zarr_format=3,
        consolidated=False,
        compute=False,
        encoding=encoding,
        storage_options=_zopts(store, opts),
    )


def _once(progress: Callable[[str | None, int], None] | None, total: int) -> Callable[[str], None]:
    """Announce ``total`` now; return a per-scene tick that reports each scene once."""
    seen: set[str] = set()
    if progress is not None:
        progress(None, total)

    def tick(sid: str) -> None:
        if progress is not None and sid not in seen:
            seen.add(sid)
            progress(sid, total)

    return tick


def _mark_complete(store: str, sid: str, opts: Any, _written: Any) -> str:
    """Last write of a scene: runs only after every chunk write of the scene returned."""
    group = zarr.open_group(store, path=sid, mode="r+", storage_options=opts)
    group.attrs.update({STATUS_KEY: "complete", "reefdask_completed": _now()})
    return sid


def _active_client(client: Any) -> Any:
    if client is not None:
        return client
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def _run_batch(
    batch: dict[str, xr.DataArray],
    store: str,
    chunk: int,
    compression: str,
    client: Any,
    opts: dict[str, Any] | None,
    report: IngestReport,
    tick: Callable[[str], None] = lambda sid: None,
) -> None:
    zopts = _zopts(store, opts)
    marks = {}
    for sid, da in batch.items():
        try:
            write = _template(da, sid, store, chunk, compression, opts)
        except ReefdaskError as err:
            report.failed[sid] = str(err)
            tick(sid)
            continue
        mark = dask.delayed(_mark_complete, pure=False)
        marks[sid] = mark(
            store, sid, zopts, write, dask_key_name=f"ingest-complete-{sid}-{uuid.uuid4().hex[:8]}"
        )
    client = _active_client(client)
    outcomes: dict[str, BaseException | None] = {}
    if client is not None:
        from distributed import as_completed

        futures = dict(zip(client.compute(list(marks.values())), marks, strict=True))
        for fut in as_completed(futures):
            outcomes[futures[fut]] = fut.exception()
            tick(futures[fut])
        outcomes = {sid: outcomes[sid] for sid in marks}  # report in submission order
    else:
        from dask.callbacks import Callback

        def _posttask(key: Any, sid: Any, *_: Any) -> None:  # a scene's last task returns its id
            if str(key).startswith("ingest-complete-"):
                tick(sid)

        try:
            with Callback(posttask=_posttask):
                dask.compute(*marks.values(), scheduler="threads")
            outcomes = dict.fromkeys(marks)
        except Exception:  # a bad scene: redo the unfinished ones scene by scene to isolate it
            done = set(list_scenes(store, storage_options=opts))
            for sid, mark in marks.items():
                if sid in done:
                    outcomes[sid] = None
                    continue
                try:
                    dask.compute(mark, scheduler="threads")
                    outcomes[sid] = None
                except Exception as err:
                    outcomes[sid] = err
    for sid, exc in outcomes.items():
        tick(sid)
        if exc is None:
            report.written.append(sid)
            da = batch[sid]
            report.bytes_written += int(np.prod(da.shape)) * da.dtype.itemsize
        elif isinstance(exc, ReefdaskError | OSError):
            report.failed[sid] = str(exc)
        else:
            raise exc
