"""The prediction graph: one block function mapped over the output's chunk grid.

:func:`status_array` returns a lazy ``(rows, cols)`` int8 Dask array with one ``1 x 1``
block per output chunk, built with :func:`dask.array.blockwise` (what ``map_blocks``
wraps) and an explicit template (``meta`` + chunks), so Dask never runs the model on
zero-size arrays to guess the output. Computing a block *is* the prediction of that
chunk: :func:`~reefdask.predict.engine.predict_block` reads the chunk's window + halo,
runs the model, writes its region to the Zarr output and returns its status code
(:data:`~reefdask.predict.engine.STATUS_NAMES`). The keys are
``("predict-<scene>", row, col)``, so Dask's dashboard groups the tasks as ``predict``
and names each chunk by scene, row and column.

The per-chunk input is an IO dependency (:class:`ChunkWindows`, a
``BlockwiseDep``), not a Dask array: a block's pixels are read *inside* its task, so an
unreadable block fails (and is recorded) for the chunks that need it only. Windows are
made only for the blocks that are computed (culled keys); chunks that are not pending
get no window and return ``recorded`` at once, so the whole grid is computable too.

Examples
--------
>>> import numpy as np
>>> w = ChunkWindows(shape=(40, 50), chunk=16, halo=4, source=np.zeros((1, 40, 50)), todo={(2, 3)})
>>> w.numblocks, w.task(2, 3)
((3, 4), ChunkTask(row=2, col=3, y0=32, y1=40, x0=48, x1=50, pad=(0, 4, 0, 4), retry=False))
>>> w[2, 3][1].read().shape, w[0, 0]
((1, 12, 6), None)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from dask.layers import ArrayBlockwiseDep

from reefdask.io.store import Store, open_store
from reefdask.predict.engine import ChunkTask, RunContext, SourceBlock, predict_block

__all__ = ["ChunkWindows", "keys_of", "materialize", "run_context", "status_array"]


class ChunkWindows(ArrayBlockwiseDep):
    """Per-block argument of the graph: ``(ChunkTask, SourceBlock)`` of a pending chunk, else None.

    ``source`` is the ``(band, y, x)`` array (NumPy or Dask), ``bands`` the model's band
    selection of it (a slice or index list); a window's
    :class:`~reefdask.predict.engine.SourceBlock` holds its chunk + halo slice of it (a
    culled Dask graph), made when the block's task is materialised.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        chunk: int,
        halo: int,
        source: Any,
        todo: set[tuple[int, int]],
        retry: set[tuple[int, int]] | None = None,
        bands: Any = slice(None),
    ):
        self.shape, self.chunk, self.halo = shape, chunk, halo
        (h, w), c = shape, chunk
        super().__init__(((1,) * -(-h // c), (1,) * -(-w // c)))
        self.source, self.todo, self.retry, self.bands = source, set(todo), set(retry or ()), bands

    @property
    def ndim(self) -> int:
        """Dimensions of the chunk grid (2)."""
        return len(self.numblocks)

    def task(self, row: int, col: int) -> ChunkTask:
        """The chunk's output region and where its read window sits in the padded tile."""
        (h, w), c, halo = self.shape, self.chunk, self.halo
        y0, x0 = row * c, col * c
        y1, x1 = min(y0 + c, h), min(x0 + c, w)
        ry0, ry1, rx0, rx1 = max(0, y0 - halo), min(h, y1 + halo), max(0, x0 - halo), min(w, x1 + halo)
        pad = (ry0 - (y0 - halo), (y1 + halo) - ry1, rx0 - (x0 - halo), (x1 + halo) - rx1)
        return ChunkTask(row, col, y0, y1, x0, x1, pad, retry=(row, col) in self.retry)

    def __getitem__(self, idx: tuple[int, ...]) -> tuple[ChunkTask, SourceBlock] | None:
        row, col = idx
        if (row, col) not in self.todo:
            return None
        t, halo = self.task(row, col), self.halo
        ry0, rx0 = t.y0 - halo + t.pad[0], t.x0 - halo + t.pad[2]
        ry1, rx1 = t.y1 + halo - t.pad[1], t.x1 + halo - t.pad[3]
        return t, SourceBlock(self.source[self.bands, ry0:ry1, rx0:rx1])


def run_context(plan: Any, run_id: str, store: Store | None = None) -> RunContext:
    """What every block needs besides its pixels (small: it travels in each task)."""
    return RunContext(
        store=store or open_store(plan.store, plan.storage_options),
        storage_options=plan.storage_options,
        model=plan.model,
        model_key=plan.model_key,
        fingerprint=plan.fingerprint,
        config_hash=plan.config_hash,
        run_id=run_id,
        preprocessing=plan.preprocessing.to_dict(),
        nodata=plan.nodata,
        strategy=plan.strategy,
        halo=plan.halo,
        stride=plan.stride,
        window=plan.window,
        step=plan.step,
        batch_size=plan.batch_size,
        output_dtype=plan.output_dtype,
        class_codes=plan.class_codes,
    )


def status_array(
    plan: Any, run_id: str, todo: list[tuple[int, int]] | None = None, store: Store | None = None
) -> Any:
    """The lazy status array of ``plan``: computing block ``(row, col)`` predicts that chunk.

    ``todo`` (default: the plan's) are the chunks that get a window; the others return
    ``recorded`` without reading anything. ``store`` is the output, opened once (default:
    opened from the plan's URL).
    """
    import dask.array as dsa

    da = plan.source
    idx = plan.preprocessing.band_indices(da.coords["band"].values)
    bands: Any = slice(None) if idx == list(range(da.sizes["band"])) else idx
    todo = plan.todo if todo is None else todo
    retry = {k for k in todo if plan.statuses.get(k) == "failed"}
    windows = ChunkWindows(plan.shape[1:], plan.chunk, plan.halo, da.data, set(todo), retry, bands)
    return dsa.blockwise(
        predict_block,
        "ij",
        windows,
        "ij",
        ctx=run_context(plan, run_id, store),
        name=f"predict-{plan.scene}",
        dtype="int8",
        meta=np.empty((0, 0), dtype="int8"),  # the template: never call the block function to guess it
        align_arrays=False,
        concatenate=True,
    )


def keys_of(status: Any, chunks: list[tuple[int, int]]) -> list[tuple[str, int, int]]:
    """The task keys of ``chunks`` in ``status`` (``("predict-<scene>", row, col)``)."""
    return [(status.name, r, c) for r, c in chunks]


def materialize(status: Any, keys: list[tuple[str, int, int]]) -> dict[Any, Any]:
    """The tasks of ``keys`` only (the graph culled to them): windows are made for these alone."""
    return dict(status.__dask_graph__().cull(set(keys)))
