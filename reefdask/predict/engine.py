"""The chunk task: read chunk + halo, preprocess, run the model, write the region, record it.

:func:`run_chunk` is what every ``predict-<scene>-<row>-<col>`` task runs. It reads its
own slice of the source plus the halo (neighbouring chunks' pixels), pads beyond the
data with the model nodata encoding, runs the strategy, encodes the outputs, writes
exactly its own Zarr chunk and only then writes its ledger record (by default on the
process's writer thread, overlapping the next chunk: :mod:`.writer`). Reading, decoding
and write errors are recorded as ``failed``, never raised: the run goes on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from reefdask.predict import strategies
from reefdask.predict.ledger import ChunkRecord, Ledger
from reefdask.predict.model import load_model
from reefdask.predict.output import write_chunk
from reefdask.predict.preprocess import Preprocessing
from reefdask.predict.writer import background_writes, process_writer

__all__ = ["ChunkTask", "RunContext", "SourceBlock", "encode_outputs", "run_chunk"]

NODATA_U8 = 255
log = logging.getLogger(__name__)


class SourceBlock:
    """The input pixels of one task, opaque to Dask so they are read *inside* the task.

    Holds a NumPy array, or a (culled) Dask array that is computed with the
    synchronous scheduler when the task runs, so a read error surfaces in the task
    that owns it and is recorded in the ledger instead of failing the whole graph.
    """

    __slots__ = ("data",)

    def __init__(self, data: Any):
        if hasattr(data, "dask"):
            import dask

            (data,) = dask.optimize(data)
        self.data = data

    def read(self) -> np.ndarray:
        """The block as a NumPy array ``(band, y, x)``."""
        if hasattr(self.data, "compute"):
            return np.asarray(self.data.compute(scheduler="sync"))
        return np.asarray(self.data)


@dataclass(frozen=True)
class ChunkTask:
    """One chunk: grid position, output region, and where the read window sits in the tile."""

    row: int
    col: int
    y0: int
    y1: int
    x0: int
    x1: int
    pad: tuple[int, int, int, int]  # top, bottom, left, right: tile pixels beyond the data
    retry: bool = False  # a failed record exists and is to be replaced


@dataclass(frozen=True)
class RunContext:
    """Everything a chunk task needs besides its pixels: small, shared by all tasks."""

    store: str
    storage_options: dict[str, Any] | None
    model: str
    model_key: str
    fingerprint: str
    config_hash: str
    run_id: str
    preprocessing: dict[str, Any]
    nodata: float | None
    strategy: str  # "tiles" | "centre" | "blend"
    halo: int
    stride: int
    window: int | None
    step: int | None
    batch_size: int
    output_dtype: str
    class_codes: tuple[int, ...]


def encode_outputs(
    probs: np.ndarray, valid: np.ndarray, output_dtype: str, class_codes: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """``(y, x, class)`` float probabilities -> ``(class, y, x)`` probabilities and ``(y, x)`` classes.

    >>> p = np.array([[[0.25, 0.75], [0.9, 0.1]]], dtype="float32")
    >>> prob, cls = encode_outputs(p, np.array([[True, False]]), "uint8", (3, 7))
    >>> prob[:, 0].tolist(), cls.tolist()
    ([[25, 255], [75, 255]], [[7, 255]])
    """
    codes = np.asarray(class_codes, dtype="uint8")
    classes = codes[np.argmax(probs, axis=-1)]
    classes[~valid] = NODATA_U8
    p = np.moveaxis(probs, -1, 0)
    if output_dtype == "uint8":
        out = np.clip(np.rint(p * 100.0), 0, 100).astype("uint8")
        out[:, ~valid] = NODATA_U8
    else:
        out = p.astype("float32", copy=True)
        out[:, ~valid] = np.nan
    return out, classes


def nodata_outputs(n_classes: int, h: int, w: int, output_dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """All-nodata blocks (what a skipped chunk holds)."""
    fill = NODATA_U8 if output_dtype == "uint8" else np.nan
    return (np.full((n_classes, h, w), fill, dtype=output_dtype), np.full((h, w), NODATA_U8, dtype="uint8"))


def _predict(task: ChunkTask, raw: np.ndarray, ctx: RunContext) -> tuple[np.ndarray, np.ndarray, bool]:
    pre = Preprocessing.from_dict(ctx.preprocessing)
    x, valid = pre.apply(raw, ctx.nodata)
    top, bottom, left, right = task.pad
    fill = pre.nodata_encoding
    x = np.pad(x, ((top, bottom), (left, right), (0, 0)), constant_values=fill)
    valid = np.pad(valid, ((top, bottom), (left, right)), constant_values=False)
    h, w, halo = task.y1 - task.y0, task.x1 - task.x0, ctx.halo
    inner = valid[halo : halo + h, halo : halo + w]
    n = len(ctx.class_codes)
    if not inner.any():
        return (*nodata_outputs(n, h, w, ctx.output_dtype), False)
    model = load_model(ctx.model, ctx.model_key, ctx.storage_options)
    if ctx.strategy == "tiles":
        probs = strategies.tiles(model, x, halo=halo, h=h, w=w, stride=ctx.stride, fill=fill)
    else:
        run = strategies.windows_centre if ctx.strategy == "centre" else strategies.windows_blend
        assert ctx.window is not None and ctx.step is not None
        probs = run(
            model,
            x,
            window=ctx.window,
            step=ctx.step,
            halo=halo,
            h=h,
            w=w,
            fill=fill,
            batch_size=ctx.batch_size,
        )
    return (*encode_outputs(probs, inner, ctx.output_dtype, ctx.class_codes), True)


def _write_and_record(
    task: ChunkTask, ctx: RunContext, prob: np.ndarray, cls: np.ndarray, ran: bool, t0: float
) -> tuple[str, str]:
    """Write the chunk's region, then its ledger record: ``failed`` (with the error) if the write fails."""
    ledger = Ledger(ctx.store, ctx.storage_options)
    ys, xs = slice(task.y0, task.y1), slice(task.x0, task.x1)
    status, reason = ("done", "") if ran else ("skipped", "nodata")
    try:
        blocks: list[tuple[str, tuple[slice, ...], np.ndarray]] = [
            ("probabilities", (slice(None), ys, xs), prob),
            ("classes", (ys, xs), cls),
        ]
        for name, region, block in blocks:
            write_chunk(
                ctx.store, name, region, block, storage_options=ctx.storage_options, token=ctx.config_hash
            )
    except Exception as err:
        status, reason = "failed", f"write failed: {type(err).__name__}: {err}"
    rec = ChunkRecord(
        task.row, task.col, status, reason, ctx.fingerprint, ctx.run_id, time.perf_counter() - t0
    )
    try:
        ledger.record(rec, drop=("failed",) if task.retry and status != "failed" else ())
    except Exception as err:  # the chunk stays pending: the summary shows it, a rerun retries it
        log.error("cannot record chunk %s-%s of %s in its ledger: %s", task.row, task.col, ctx.store, err)
        return "failed", f"ledger write failed: {type(err).__name__}: {err}"
    return status, reason


def run_chunk(task: ChunkTask, source: SourceBlock, ctx: RunContext) -> dict[str, Any]:
    """Predict one chunk, write its region, then its ledger record; return a small summary.

    With background writes (the default) the region and record are written by this
    process's writer thread while the next chunk computes; the returned ``status`` is
    then the computed one, and a write that fails later is recorded ``failed`` in the
    ledger (which the run's summary reads).
    """
    t0 = time.perf_counter()
    ledger = Ledger(ctx.store, ctx.storage_options)
    result = {"row": task.row, "col": task.col, "computed": False}
    if ledger.finished(task.row, task.col):  # a concurrent run got here first
        return {**result, "status": "done", "reason": "recorded by another run"}
    try:
        prob, cls, ran = _predict(task, source.read(), ctx)
    except Exception as err:
        reason = f"{type(err).__name__}: {err}"
        ledger.record(
            ChunkRecord(
                task.row, task.col, "failed", reason, ctx.fingerprint, ctx.run_id, time.perf_counter() - t0
            )
        )
        return {**result, "status": "failed", "reason": reason}
    if background_writes():

        def write() -> None:
            _write_and_record(task, ctx, prob, cls, ran, t0)

        process_writer().submit(write)
        status, reason = ("done", "") if ran else ("skipped", "nodata")
    else:
        status, reason = _write_and_record(task, ctx, prob, cls, ran, t0)
    return {**result, "status": status, "reason": reason, "computed": ran}
