"""Run a plan: template, the status graph's pending blocks in batches, progress, summary; ``predict``.

The graph (:func:`~reefdask.predict.graph.status_array`) maps the block function over the
output's chunk grid; a run computes only the pending chunks' blocks, in batches of
``batch_tasks`` keys so graphs stay small for large scenes, and before each batch it
lists the ledger once to drop chunks that a concurrent run finished meanwhile. Each task
is ``("predict-<scene>", row, col)`` on the dashboard.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dask.config

from reefdask.io.store import Store, open_store
from reefdask.model.loading import task_resources
from reefdask.predict.engine import STATUS_NAMES
from reefdask.predict.graph import keys_of, materialize, status_array
from reefdask.predict.ledger import Ledger, PredictionStatus
from reefdask.predict.output import (
    check_writable,
    ensure_template,
    provenance,
    read_provenance,
    template,
    zarr_kwargs,
)
from reefdask.predict.plan import PredictionPlan, new_run_id, plan_prediction
from reefdask.predict.writer import flush_writes

__all__ = [
    "PredictionSummary",
    "execute",
    "predict",
    "prediction_status",
    "task_resources",
    "threads_by_host",
]


@dataclass
class PredictionSummary:
    """Outcome of a run, read back from the ledger (so it covers earlier runs too)."""

    store: str
    fingerprint: str
    total: int
    counts: dict[str, int]
    failures: dict[tuple[int, int], str] = field(default_factory=dict)
    computed: int = 0  # chunks this run computed
    run_id: str = ""

    @property
    def ok(self) -> bool:
        """True when every chunk is done or skipped."""
        return self.counts.get("done", 0) + self.counts.get("skipped", 0) == self.total

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "store": self.store,
            "fingerprint": self.fingerprint,
            "total": self.total,
            "counts": dict(self.counts),
            "computed": self.computed,
            "run_id": self.run_id,
            "failures": {f"{r}-{c}": why for (r, c), why in sorted(self.failures.items())},
        }

    def __str__(self) -> str:
        c = self.counts
        lines = [
            f"{self.store}: {c.get('done', 0)} done, {c.get('skipped', 0)} skipped, "
            f"{c.get('failed', 0)} failed, {c.get('pending', 0)} pending of {self.total} chunks "
            f"({self.computed} computed by this run)"
        ]
        lines += [f"  failed chunk {r}-{col}: {why}" for (r, col), why in sorted(self.failures.items())]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from reefdask.predict.ledger import status_html

        about = {"fingerprint": self.fingerprint, "run": self.run_id, "computed by this run": self.computed}
        return status_html("Prediction summary", self.store, self.counts, self.total, self.failures, about)


def threads_by_host(client: Any) -> dict[str, int]:
    """Dask threads per host of the cluster now, so each worker's TensorFlow takes its share of cores."""
    out: dict[str, int] = {}
    for addr, w in client.scheduler_info().get("workers", {}).items():
        host = str(w.get("host") or addr.split("://")[-1].rsplit(":", 1)[0])
        out[host] = out.get(host, 0) + int(w.get("nthreads") or 1)
    return out


def execute(
    plan: PredictionPlan,
    *,
    client: Any = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    batch_tasks: int = 4096,
) -> PredictionSummary:
    """Write the template, compute every chunk still to do, and summarise the ledger.

    A store that cannot be written is refused (:class:`~reefdask.errors.StoreError`)
    before any chunk is computed; a chunk whose write fails later is recorded
    ``failed`` with the error and the run goes on (a rerun retries it).
    """
    store = plan.output or open_store(plan.store, plan.storage_options)  # opened once by the plan
    ensure_template(store, *template(plan), provenance(plan), overwrite=plan.overwrite)
    if plan.overwrite:
        plan.statuses = {}
    run_id = new_run_id()
    todo = plan.todo
    if not todo:  # nothing to do: no graph, no model load anywhere
        return summarize(plan, run_id, 0, store)
    check_writable(store, run_id)  # refused before any work
    status = status_array(plan, run_id, todo, store)
    ledger = Ledger(store)
    computed, held = 0, []

    def _done(key: tuple[str, int, int], block: Any) -> None:
        nonlocal computed
        name = STATUS_NAMES[int(block[0, 0])] if not isinstance(block, str) else block
        if name == "held":  # another live run computes it: look again after this round
            held.append((key[1], key[2]))
            return
        computed += name == "done"
        if progress is not None:
            progress({"row": key[1], "col": key[2], "status": name, "computed": name == "done"})

    run_batch = _on_cluster(plan, client) if client is not None else _in_process()
    pending = list(todo)
    try:
        while pending:
            for i in range(0, len(pending), batch_tasks):
                # one listing per batch: chunks another run recorded meanwhile are not computed
                finished = {k for k, s in ledger.statuses().items() if s in ("done", "skipped")}
                batch = []
                for k in pending[i : i + batch_tasks]:
                    if k in finished:
                        _done((status.name, *k), "recorded")
                    else:
                        batch.append(k)
                if batch:
                    run_batch(status, keys_of(status, batch), _done)
            pending, held = sorted(held), []
            if pending:  # held by another run: wait for its records, or take over expired claims
                time.sleep(float(dask.config.get("reefdask.predict.claim-poll", 1.0)))
    finally:  # chunk writes run behind the tasks: wait for them (on every worker)
        client.run(flush_writes) if client is not None else flush_writes()
    return summarize(plan, run_id, computed, store)


Done = Callable[[tuple[str, int, int], Any], None]


def _on_cluster(plan: PredictionPlan, client: Any) -> Callable[[Any, list[Any], Done], None]:
    """Batches on a distributed cluster: the model plugin on every worker, GPU resources if any."""
    from distributed import as_completed

    from reefdask.predict.model import ModelPlugin

    client.register_plugin(
        ModelPlugin(plan.model, plan.model_key, plan.storage_options, threads_by_host(client))
    )
    resources = task_resources(client)

    def run_batch(status: Any, keys: list[Any], done: Done) -> None:
        futures = client.get(materialize(status, keys), keys, sync=False, resources=resources)
        try:
            for fut in as_completed(futures):
                done(fut.key, fut.result())
        finally:  # forget the keys now: a held chunk's key is submitted again in the next round
            client.cancel(futures)

    return run_batch


def _in_process() -> Callable[[Any, list[Any], Done], None]:
    """Batches on this process's threads (or synchronously when ``dask.config`` says so)."""
    import dask
    import dask.threaded
    from dask.callbacks import Callback

    scheduler = dask.config.get("scheduler", None)
    get = dask.get if scheduler in ("sync", "synchronous", "single-threaded") else dask.threaded.get

    def run_batch(status: Any, keys: list[Any], done: Done) -> None:
        wanted = set(keys)
        mine = Callback(posttask=lambda key, res, *a: done(key, res) if key in wanted else None)
        # explicit callbacks: dask hands the global ones to the first of concurrent computes in a
        # process only, so a second predict on another thread would count nothing it computed
        get(materialize(status, keys), keys, callbacks=[mine._callback, *Callback.active])

    return run_batch


def summarize(
    plan: PredictionPlan, run_id: str = "", computed: int = 0, store: Store | None = None
) -> PredictionSummary:
    """Counts per status and failure reasons from the ledger."""
    ledger = Ledger(store or plan.store, plan.storage_options)
    statuses = ledger.statuses()
    counts = {s: 0 for s in ("done", "skipped", "failed")}
    for k in plan.chunks:
        s = statuses.get(k)
        counts[s or "pending"] = counts.get(s or "pending", 0) + 1
    return PredictionSummary(
        plan.store, plan.fingerprint, len(plan.chunks), counts, ledger.failures(), computed, run_id
    )


def prediction_status(store: Store | str, storage_options: dict[str, Any] | None = None) -> PredictionStatus:
    """Offline progress of an output store from its attributes and ledger (no model needed).

    A :class:`~reefdask.predict.ledger.PredictionStatus`: a plain dict that also prints and renders.
    """
    from reefdask.errors import StoreError

    st = open_store(store, storage_options)
    prov = read_provenance(st)
    if not prov:
        raise StoreError(
            f"{store} is not a reefdask prediction output (no reefdask attributes); "
            "check the URL, or run `reefdask predict` first."
        )
    ny, nx = prov.get("grid", [0, 0])
    ledger = Ledger(st)
    # only chunks of the output's grid count (a stray record never makes `pending` negative)
    statuses = {(r, c): v for (r, c), v in ledger.statuses().items() if r < ny and c < nx}
    counts = {s: sum(1 for v in statuses.values() if v == s) for s in ("done", "skipped", "failed")}
    counts["pending"] = ny * nx - sum(counts.values())
    status = {
        "store": store if isinstance(store, str) else st.url,
        "scene": prov.get("scene"),
        "fingerprint": prov.get("fingerprint"),
        "config_hash": prov.get("config_hash"),
        "model": prov.get("model"),
        "total": ny * nx,
        "counts": counts,
        # the failed records' reasons, from the one listing above
        "failures": {
            f"{rec.row}-{rec.col}": rec.reason
            for rec in ledger.read([(r, c, v) for (r, c), v in sorted(statuses.items()) if v == "failed"])
        },
    }
    return PredictionStatus(status)


def predict(
    imagery: Any,
    model: str,
    store: Store | str,
    *,
    chunk: int = 1024,
    halo: int | None = None,
    strategy: str = "auto",
    batch_size: int | None = None,
    output_dtype: str = "uint8",
    overwrite: bool = False,
    client: Any = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> Any:
    """Apply a saved Keras model to imagery, chunk by chunk, resumably, into a Zarr store.

    Parameters
    ----------
    imagery : xarray.DataArray or str
        ``(band, y, x)`` imagery, or a URL that :func:`reefdask.io.open_imagery` reads.
    model : str
        Path or URL of a saved ``.keras`` model (its ``.card.json`` is read when present).
    store : str or Store
        Output Zarr store: local path, ``memory://``, ``gs://`` ... (or a
        :class:`~reefdask.io.store.Store` opened with :func:`reefdask.io.store.open_store`).
    chunk, halo, strategy, batch_size, output_dtype, overwrite
        See :func:`plan_prediction`; ``strategy`` is ``"auto"``, ``"tiles"`` or ``"windows"``.
    client : distributed.Client, optional
        Run on this cluster; else the local threaded scheduler.
    progress : callable, optional
        Called with each finished chunk's small result dict.
    **options
        ``window``, ``window_mode`` (``"centre"``/``"blend"``), ``bands``, ``scaler``, ``classes``,
        ``scene``, ``storage_options``.

    Returns
    -------
    xarray.Dataset
        The lazily opened output (``probabilities`` and ``classes``); the run's
        :class:`PredictionSummary` is in ``attrs["prediction_summary"]``.
    """
    import xarray as xr

    plan = plan_prediction(
        imagery,
        model,
        store,
        chunk=chunk,
        halo=halo,
        strategy=strategy,
        batch_size=batch_size,
        output_dtype=output_dtype,
        overwrite=overwrite,
        **options,
    )
    summary = execute(plan, client=client, progress=progress)
    ds = xr.open_zarr(
        **zarr_kwargs(plan.output or plan.store, plan.storage_options), consolidated=False, zarr_format=3
    )
    ds.attrs["prediction_summary"] = summary.to_dict()
    return ds
