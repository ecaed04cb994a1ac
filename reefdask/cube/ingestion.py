"""Ingest rasters into a Zarr v3 cube: parallel with Dask, chunk by chunk, resumable.

The layout is described in :mod:`reefdask.cube.store`. Each scene is a unit of
:mod:`reefdask.work`: a run plans first (scene ids, what is complete already from one
listing of the records, compatibility of bands, dtype and CRS across the cube), then,
batch by batch, **claims** each scene (a scene another live job holds is left to it and
reported in :attr:`IngestReport.held`), writes the claimed scenes' templates and
computes one graph per batch in which each scene's last task depends on every chunk
write of that scene. When it returns, the scene is **recorded** done through its claim
(renewed in the background meanwhile; a job whose claim was taken over after it stalled
records nothing). A template is rewritten (``mode="w"``) only by the job holding the
scene's claim, so no job deletes another live job's data, and concurrent ingests into
one cube write every scene once. Memory per task is one chunk of all bands.

A source that is missing or unreadable does not stop the run: it is recorded as a
failure with its class and reason (and in :attr:`IngestReport.failed`), its scene stays
incomplete, and the next run retries it.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import dask
import numpy as np
import xarray as xr

from reefdask import __version__
from reefdask.cube.scenes import INGEST_PREFIX, scene_work
from reefdask.cube.sources import check_compatible, expand_sources, zarr_options
from reefdask.cube.store import SCENE_KEY, list_scenes, scene_id
from reefdask.errors import ConfigError, ReefdaskError
from reefdask.io.rasters import open_imagery
from reefdask.io.storage import strip_protocol
from reefdask.io.store import open_store
from reefdask.work import Claim, ClaimLostError, Listing, Work, keep

__all__ = ["IngestReport", "ingest", "expand_sources", "COMPRESSIONS"]

#: Zarr codecs by name; ``deflate`` is zlib's DEFLATE, as GeoTIFF's
COMPRESSIONS = ("zstd", "deflate", "none")
#: seconds a scene's claim lasts without renewal (renewed every third of it while the scene is written)
CLAIM_TTL = 1800.0


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
    #: scenes another live job was writing (claimed): left to it
    held: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    bytes_written: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no scene failed."""
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form."""
        return {**asdict(self), "seconds": round(self.seconds, 3)}

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
            + (f", {len(self.held)} being written by another job" if self.held else "")
        ]
        lines += [f"  failed {k}: {v}" for k, v in self.failed.items()]
        lines += [f"  duplicate {k} (same scene as {v})" for k, v in self.duplicates.items()]
        return "\n".join(lines)


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
    work = scene_work(open_store(store, storage_options), ttl=CLAIM_TTL)
    work.store.remove_stale(f"{INGEST_PREFIX}/")
    listing = work.records.scan()  # older records, replaced when a scene is recorded again
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
        check_compatible(todo, store, storage_options)
        names = list(todo)
        for i in range(0, len(names), max(1, batch_size)):
            batch = {n: todo[n] for n in names[i : i + batch_size]}
            claims = _claim(batch, work, overwrite, report, tick)
            with keep(list(claims.values())):  # renewed while the batch computes
                _run_batch(batch, claims, (work, listing), store, int(chunk), compression, client,
                           storage_options, report, tick)  # fmt: skip
    order = {sid: k for k, sid in enumerate(report.sources)}
    report.written.sort(key=order.__getitem__)
    report.resumed = [sid for sid in report.written if sid in partial]
    report.seconds = time.perf_counter() - started
    return report


def _claim(
    batch: dict[str, xr.DataArray],
    work: Work,
    overwrite: bool,
    report: IngestReport,
    tick: Callable[[str], None],
) -> dict[str, Claim]:
    """Claim each scene of ``batch``; those held by another job, or finished meanwhile, are reported."""
    claims: dict[str, Claim] = {}
    for sid in list(batch):
        claim = work.claim(sid, overwrite=overwrite)
        if isinstance(claim, str):
            (report.held if claim == "held" else report.skipped).append(sid)
            del batch[sid]
            tick(sid)
        else:
            claims[sid] = claim
    return claims


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _template(da: xr.DataArray, sid: str, store: str, chunk: int, compression: str, opts: Any) -> Any:
    """Write the scene's metadata and coordinates (under its claim); return the data write."""
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
        SCENE_KEY: sid,
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
        storage_options=zarr_options(store, opts),
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


def _scene_written(sid: str, _written: Any) -> str:
    """A scene's last task: runs only after every chunk write of the scene returned."""
    return sid


def _active_client(client: Any) -> Any:
    try:
        from distributed import get_client

        return client if client is not None else get_client()
    except (ImportError, ValueError):
        return None


def _run_batch(
    batch: dict[str, xr.DataArray],
    claims: dict[str, Claim],
    records: tuple[Work, Listing],
    store: str,
    chunk: int,
    compression: str,
    client: Any,
    opts: dict[str, Any] | None,
    report: IngestReport,
    tick: Callable[[str], None] = lambda sid: None,
) -> None:
    work, listing = records
    finished: set[str] = set()

    def record(sid: str, exc: BaseException | None) -> None:
        """Record the scene's outcome through its claim, as soon as it is known."""
        finished.add(sid)
        tick(sid)
        da, claim = batch[sid], claims[sid]
        nbytes = int(np.prod(da.shape)) * da.dtype.itemsize
        status = "failed"
        try:
            outcome = exc if exc is not None else {"bytes": nbytes, "source": da.attrs["source"]}
            status = work.record(claim, outcome, listing)
        except ClaimLostError as lost:
            report.failed[sid] = str(lost)
            return
        finally:
            work.finish(claim, status)
        if exc is None:
            report.written.append(sid)
            report.bytes_written += nbytes
        else:
            report.failed[sid] = str(exc)

    marks = {}
    for sid, da in batch.items():
        try:
            write = _template(da, sid, store, chunk, compression, opts)
        except ReefdaskError as err:
            record(sid, err)
            continue
        last = dask.delayed(_scene_written, pure=False)
        marks[sid] = last(sid, write, dask_key_name=f"ingest-complete-{sid}-{uuid.uuid4().hex[:8]}")
    client = _active_client(client)
    if client is not None:
        from distributed import as_completed

        futures = dict(zip(client.compute(list(marks.values())), marks, strict=True))
        for fut in as_completed(futures):
            record(futures[fut], fut.exception())
        return
    from dask.callbacks import Callback

    mine = {mark.key: sid for sid, mark in marks.items()}

    errors: list[BaseException] = []

    def _posttask(key: Any, sid: Any, *_: Any) -> None:  # a scene's last task returns its id
        if key in mine:  # callbacks are global: another ingest in this process computes too
            try:
                record(sid, None)
            except Exception as err:  # raised below, never lost inside dask's scheduler
                errors.append(err)

    try:
        # explicit callbacks: dask hands the global ones to the first of concurrent computes only
        callbacks = [Callback(posttask=_posttask)._callback, *Callback.active]
        dask.compute(*marks.values(), scheduler="threads", callbacks=callbacks)
    except Exception:  # a bad scene: redo the unfinished ones scene by scene to isolate it
        for sid, mark in marks.items():
            if sid in finished:
                continue
            try:
                dask.compute(mark, scheduler="threads")
            except Exception as err:
                record(sid, err)
            else:
                record(sid, None)
    if errors:
        raise errors[0]
