"""Write chosen windows into the Zarr sample store, one chunk of samples per Dask task.

The store is laid out first (every array created, configuration in the attributes);
each task then reads its windows and writes exactly its own chunk-aligned region,
returning only the class counts of its loss windows. Weights follow in a second pass
once the training folds' class frequencies are known; then the caller records the store
done in the work layer's format (:mod:`reefdask.train.store`). Memory per task: one
chunk of samples.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from typing import Any

import numpy as np

from reefdask.core.nodata import LABEL_NODATA
from reefdask.train.config import SamplesConfig
from reefdask.train.store import open_group
from reefdask.train.windows import SceneInfo, SceneReader
from reefdask.work import Claim

__all__ = ["write_store", "class_weights", "weight_window"]


def class_weights(counts: np.ndarray) -> np.ndarray:
    """Inverse class frequency ``N / (K n_c)`` over the ``K`` classes present; absent classes 0.

    >>> class_weights(np.array([30, 10, 0])).tolist()
    [0.6666666666666666, 2.0, 0.0]
    """
    counts = np.asarray(counts, "float64")
    present = counts > 0
    if not present.any():
        return np.zeros_like(counts)
    return np.where(present, counts.sum() / (present.sum() * np.maximum(counts, 1)), 0.0)


def weight_window(responses: np.ndarray, weights: np.ndarray, crop: int) -> np.ndarray:
    """Per-pixel weights of ``responses (..., y, x)``: class weight in the loss window, else 0."""
    lut = np.zeros(256, "float32")
    lut[: len(weights)] = weights
    w = lut[responses]
    if crop > 0:
        w[..., :crop, :] = 0
        w[..., -crop:, :] = 0
        w[..., :, :crop] = 0
        w[..., :, -crop:] = 0
    return w


def write_store(
    cfg: SamplesConfig,
    infos: list[SceneInfo],
    sel: np.ndarray,
    folds: np.ndarray,
    schema: Any,
    lut: np.ndarray,
    chash: str,
    client: Any,
    *,
    version: str,
    config: dict[str, Any],
    claim: Claim,
) -> dict[str, Any]:
    """Lay out the store, fill it chunk by chunk, write weights; the attributes written.

    ``config`` is the hashable configuration (recorded in the attributes). The layout
    replaces every array and attribute but keeps ``_work/`` (the claim this build holds
    and the records); the caller records completion through ``claim``.
    """
    import dask

    n, size, cs = len(sel), 2 * cfg.window_radius, cfg.chunk_samples
    nb = len(infos[0].bands)
    crop = cfg.window_radius - cfg.loss_window_radius
    claim.check()  # still ours before anything of the old store is replaced
    g = open_group(cfg.store, "a")
    for name in [k for k in g.keys() if k != "_work"]:
        del g[name]
    g.create_array(
        "features", shape=(n, size, size, nb), chunks=(cs, size, size, nb), dtype=infos[0].dtype, fill_value=0
    )
    g.create_array("responses", shape=(n, size, size), chunks=(cs, size, size), dtype="uint8", fill_value=255)
    g.create_array("weights", shape=(n, size, size), chunks=(cs, size, size), dtype="float32", fill_value=0)
    for name, col, dt in (
        ("fold", folds, "int8"),
        ("scene", sel[:, 0], "int16"),
        ("row", sel[:, 1], "int32"),
        ("col", sel[:, 2], "int32"),
    ):
        arr = g.create_array(name, shape=(n,), chunks=(max(n, 1),), dtype=dt, fill_value=0)
        if n:
            arr[:] = np.asarray(col, dt)
    ranges = {
        str(f): [int(np.searchsorted(folds, f, "left")), int(np.searchsorted(folds, f, "right"))]
        for f in range(cfg.n_folds)
    }
    train_folds = [f for f in range(cfg.n_folds) if f not in (cfg.validation_fold, cfg.test_fold)]
    attrs = {
            "config": config,
            "config_hash": chash,
            "n_samples": n,
            "n_folds": cfg.n_folds,
            "validation_fold": cfg.validation_fold,
            "test_fold": cfg.test_fold,
            "fold_ranges": ranges,
            "window_radius": cfg.window_radius,
            "loss_window_radius": cfg.loss_window_radius,
            "schema": schema.to_dict(),
            "scenes": [
                {
                    "name": i.name,
                    "features": i.features,
                    "cube_scene": i.scene,
                    "labels": i.labels,
                    "boundary": i.boundary,
                    "bands": list(i.bands),
                    "crs": i.crs,
                    "transform": list(i.transform),
                }
                for i in infos
            ],
            "bands": list(infos[0].bands),
            "feature_nodata": None if infos[0].nodata is None else float(infos[0].nodata),
            "label_nodata": LABEL_NODATA,
            "response_nodata": 255,
            "provenance": {
                "reefdask": version,
                "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            },
        }  # fmt: skip
    g.attrs.put(attrs)  # replaces every attribute (an older store's ``complete`` too)
    starts = list(range(0, n, cs))
    fill = dask.delayed(_fill_chunk, pure=False)
    tok = uuid.uuid4().hex[:8]
    tasks = [
        fill(
            cfg.store,
            infos,
            sel[a : a + cs],
            a,
            size,
            crop,
            lut,
            folds[a : a + cs],
            train_folds,
            schema.n_classes,
            dask_key_name=f"samples-write-{tok}-{a}",  # the dashboard's task names
        )
        for a in starts
    ]
    counts = np.sum(_run(tasks, client), axis=0) if tasks else np.zeros(schema.n_classes, "int64")
    weights = class_weights(counts)
    wtask = dask.delayed(_weight_chunk, pure=False)
    _run(
        [
            wtask(cfg.store, a, min(a + cs, n), weights, crop, dask_key_name=f"samples-weights-{tok}-{a}")
            for a in starts
        ],
        client,
    )
    done = {"class_counts": [int(c) for c in counts], "class_weights": [float(w) for w in weights]}
    g.attrs.update(done)
    return {**attrs, **done}


def _run(tasks: list, client: Any) -> list:
    import dask

    if not tasks:
        return []
    if client is not None:
        return list(client.gather(client.compute(tasks)))
    return list(dask.compute(*tasks, scheduler="threads"))


def _fill_chunk(
    url: str,
    infos: list[SceneInfo],
    sel: np.ndarray,
    start: int,
    size: int,
    crop: int,
    lut: np.ndarray,
    folds: np.ndarray,
    train_folds: list[int],
    n_classes: int,
) -> np.ndarray:
    g = open_group(url, "r+")
    feats = resp = None
    # one scene open at a time: GDAL's block cache is released when its dataset closes,
    # so memory per task depends on the chunk, not on how many scenes it draws from
    for s in np.unique(sel[:, 0]):
        with SceneReader(infos[s]) as rd:
            for k in np.flatnonzero(sel[:, 0] == s):
                f, valid = rd.features(sel[k, 1], sel[k, 2], size)
                lab = rd.labels(sel[k, 1], sel[k, 2], size, lut)
                lab[~valid] = 255  # no imagery, no label
                if feats is None or resp is None:
                    feats = np.empty((len(sel), *f.shape), f.dtype)
                    resp = np.empty((len(sel), *lab.shape), "uint8")
                feats[k], resp[k] = f, lab
    assert feats is not None and resp is not None  # sel is never empty here
    stop = start + len(sel)
    g["features"][start:stop] = feats
    g["responses"][start:stop] = resp
    inner = resp[np.isin(folds, train_folds), crop : size - crop, crop : size - crop]
    counts = np.bincount(inner[inner != 255].ravel(), minlength=n_classes)[:n_classes]
    del feats, resp
    _trim_heap()
    return counts


def _trim_heap() -> None:
    """Give freed heap memory back to the OS (glibc keeps it in per-thread arenas otherwise).

    Threads that read windows and write chunks leave fragmented arenas behind; without
    this, a build's resident memory creeps up with the number of chunks written (the
    same technique as distributed's ``malloc_trim`` for unmanaged memory).
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def _weight_chunk(url: str, start: int, stop: int, weights: np.ndarray, crop: int) -> None:
    g = open_group(url, "r+")
    g["weights"][start:stop] = weight_window(np.asarray(g["responses"][start:stop]), weights, crop)
