"""The block function: read chunk + halo, preprocess, run the model, write the region, record it.

:func:`predict_block` is what every ``("predict-<scene>", row, col)`` task of the
prediction graph (:mod:`.graph`) runs. It reads its own slice of the source plus the
halo (neighbouring chunks' pixels), pads beyond the data with the model nodata
encoding, runs the strategy, encodes the outputs, writes exactly its own Zarr chunk and
only then writes its ledger record (by default on the process's writer thread,
overlapping the next chunk: :mod:`.writer`). It returns a ``1 x 1`` int8 status block
(:data:`STATUS_NAMES`). Reading, decoding and write errors are recorded as ``failed``,
never raised: the run goes on.

Examples
--------
>>> STATUS_NAMES[int(predict_block(None, None)[0, 0])]   # a chunk that is not pending
'recorded'
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from reefdask.io.store import Store
from reefdask.model.preprocess import Preprocessing
from reefdask.model.strategies import run_strategy
from reefdask.predict.ledger import ChunkRecord, Ledger
from reefdask.predict.model import load_model
from reefdask.predict.output import write_chunk
from reefdask.predict.writer import background_writes, process_writer
from reefdask.work import Claim, ClaimLostError, classify

__all__ = [
    "STATUS_NAMES",
    "ChunkTask",
    "RunContext",
    "SourceBlock",
    "encode_outputs",
    "predict_block",
    "run_chunk",
]

NODATA_U8 = 255
#: the value of a status block, by code: ``done`` (computed by this task), ``skipped`` (all
#: nodata), ``failed`` (recorded with its reason), ``recorded`` (finished already: nothing
#: done), ``held`` (claimed by another live run: the run tries it again later)
STATUS_NAMES = ("done", "skipped", "failed", "recorded", "held")
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

    store: Store  # the output, opened once by the run
    storage_options: dict[str, Any] | None  # for the model URL
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
    probs = run_strategy(
        model, x, ctx.strategy, halo=halo, h=h, w=w, stride=ctx.stride, window=ctx.window, step=ctx.step,
        fill=fill, batch_size=ctx.batch_size,
    )  # fmt: skip
    return (*encode_outputs(probs, inner, ctx.output_dtype, ctx.class_codes), True)


def _write_and_record(
    task: ChunkTask, ctx: RunContext, prob: np.ndarray, cls: np.ndarray, ran: bool, t0: float, claim: Claim
) -> str:
    """Write the chunk's region, then its record through its claim: ``failed`` if the write fails.

    The claim is given back afterwards; a claim lost to a takeover records nothing (the
    run that took it over records the chunk).
    """
    ys, xs = slice(task.y0, task.y1), slice(task.x0, task.x1)
    status, reason = ("done", "") if ran else ("skipped", "nodata")
    try:
        blocks: list[tuple[str, tuple[slice, ...], np.ndarray]] = [
            ("probabilities", (slice(None), ys, xs), prob),
            ("classes", (ys, xs), cls),
        ]
        for name, region, block in blocks:
            write_chunk(ctx.store, name, region, block, token=ctx.config_hash)
    except Exception as err:
        status, reason = "failed", f"write failed: {type(err).__name__}: {err}"
    rec = ChunkRecord(
        task.row, task.col, status, reason, ctx.fingerprint, ctx.run_id, time.perf_counter() - t0
    )
    try:
        Ledger(ctx.store).record(
            rec, drop=("failed",) if task.retry and status != "failed" else (), claim=claim
        )
    except ClaimLostError as err:
        log.warning("chunk %s-%s of %s: %s", task.row, task.col, ctx.store.url, err)
        return status
    except Exception as err:  # the chunk stays pending: the summary shows it, a rerun retries it
        log.error("cannot record chunk %s-%s of %s in its ledger: %s", task.row, task.col, ctx.store.url, err)
        status = "failed"
    finally:
        _give_back(claim, status)
    return status


def _give_back(claim: Claim, status: str) -> None:
    """Release the chunk's claim (and, once it is finished, what the claim leaves behind)."""
    try:
        if claim.release() and status in ("done", "skipped"):
            claim.claims.store.purge(claim.key)
    except Exception as err:  # the claim expires on its own
        log.warning("cannot release the claim %s: %s", claim.key, err)


def run_chunk(task: ChunkTask, source: SourceBlock, ctx: RunContext) -> str:
    """Claim one chunk, predict it, write its region, then its ledger record; return its status.

    ``held`` when another live run holds the chunk's claim, ``recorded`` when another run
    finished it after this run's listing. With background writes (the default) the
    region and record are written by this process's writer thread while the next chunk
    computes; the returned status is then the computed one, and a write that fails
    later is recorded ``failed`` in the ledger (which the run's summary reads).
    """
    t0 = time.perf_counter()
    ledger = Ledger(ctx.store)
    claim = ledger.claim(task.row, task.col, owner=ctx.run_id)
    if claim is None:
        return "held"
    if ledger.finished(task.row, task.col):  # another run recorded it after this run's listing
        _give_back(claim, "done")
        return "recorded"
    try:
        prob, cls, ran = _predict(task, source.read(), ctx)
    except Exception as err:
        reason = f"{type(err).__name__}: {err}"
        seconds, detail = time.perf_counter() - t0, classify(err) or "permanent"
        rec = ChunkRecord(
            task.row, task.col, "failed", reason, ctx.fingerprint, ctx.run_id, seconds, detail=detail
        )
        try:
            ledger.record(rec, claim=claim)
        except Exception as rec_err:  # the chunk stays pending: a rerun retries it
            log.error(
                "cannot record chunk %s-%s of %s as failed: %s", task.row, task.col, ctx.store.url, rec_err
            )
        finally:
            _give_back(claim, "failed")
        return "failed"
    if background_writes():

        def write() -> None:
            _write_and_record(task, ctx, prob, cls, ran, t0, claim)

        process_writer().submit(write)
        return "done" if ran else "skipped"
    return _write_and_record(task, ctx, prob, cls, ran, t0, claim)


def predict_block(window: tuple[ChunkTask, SourceBlock] | None, ctx: RunContext | None) -> np.ndarray:
    """The graph's block function: one chunk in, its ``1 x 1`` int8 status code out.

    ``window`` is None for a chunk that is not pending (it returns ``recorded``).
    """
    status = "recorded" if window is None or ctx is None else run_chunk(*window, ctx)
    return np.full((1, 1), STATUS_NAMES.index(status), dtype="int8")
