"""Background writes: a chunk's Zarr region and ledger record, overlapped with the next chunk.

A chunk task hands its encoded blocks to this process's :class:`ChunkWriter` and
returns; one writer thread per process writes the data and *then* the ledger record,
in that order, so the ledger never names a chunk whose data is not durable: a killed
process loses its queued writes and their records together, and a rerun recomputes
those chunks. The queue is bounded (``reefdask.predict.write-queue``, default 2), so a
slow store slows the model down instead of filling memory.

:func:`flush_writes` waits for every queued write of this process; ``execute`` calls
it in-process and on every worker (``client.run``) before it summarises the ledger.
``dask.config`` ``reefdask.predict.background-writes: false`` writes inside the task.

Examples
--------
>>> w = ChunkWriter(maxsize=1)
>>> out = []
>>> w.submit(lambda: out.append(1)); w.submit(lambda: out.append(2)); w.flush()
>>> out
[1, 2]
>>> w.close()
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

__all__ = ["ChunkWriter", "background_writes", "flush_writes", "process_writer"]

log = logging.getLogger(__name__)
_WRITER: ChunkWriter | None = None
_LOCK = threading.Lock()


class ChunkWriter:
    """One daemon thread running queued write jobs in order; ``flush`` waits for all of them.

    Jobs handle their own errors (a failed write is recorded in the ledger by the job);
    anything that still escapes is logged, never raised into an unrelated task.
    """

    def __init__(self, maxsize: int = 2):
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=max(1, maxsize))
        self._thread = threading.Thread(target=self._run, name="reefdask-chunk-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                job()
            except Exception:  # pragma: no cover - jobs record their own failures
                log.exception("reefdask chunk write failed outside its own error handling")
            finally:
                self._queue.task_done()

    def submit(self, job: Callable[[], None]) -> None:
        """Queue ``job``; blocks while the queue is full (back-pressure on the model)."""
        self._queue.put(job)

    def flush(self) -> None:
        """Wait until every job queued so far has run."""
        self._queue.join()

    def close(self) -> None:
        """Run what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()


def background_writes() -> bool:
    """Whether chunk writes go to the writer thread (``reefdask.predict.background-writes``)."""
    import dask.config

    return bool(dask.config.get("reefdask.predict.background-writes", True))


def process_writer() -> ChunkWriter:
    """The writer thread of this process, started on first use."""
    global _WRITER
    if _WRITER is None or not _WRITER._thread.is_alive():
        with _LOCK:
            if _WRITER is None or not _WRITER._thread.is_alive():
                import dask.config

                _WRITER = ChunkWriter(int(dask.config.get("reefdask.predict.write-queue", 2)))
    return _WRITER


def flush_writes() -> int:
    """Wait for this process's queued chunk writes (a no-op when none were queued); returns 0."""
    if _WRITER is not None:
        _WRITER.flush()
    return 0
