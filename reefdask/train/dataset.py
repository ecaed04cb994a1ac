"""A ``tf.data`` pipeline streaming samples from the Zarr sample store.

The store is never loaded whole: the pipeline lists the chunk-aligned pieces of the
split (samples are sorted by fold, so a split is a few contiguous ranges), shuffles the
pieces each epoch, reads several pieces in parallel (Zarr decompression releases the
GIL), scales them (nodata -> ``MODEL_NODATA``), unbatches them into a bounded shuffle
buffer, augments, batches and prefetches. Memory: ``shuffle_buffer`` samples plus a few
chunks in flight.

Targets are ``(batch, H, W, 2)``: class index and per-pixel weight, as
:class:`reefdask.train.losses.WeightedCCE` expects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reefdask.train.config import AugmentConfig
from reefdask.train.scalers import Scaler
from reefdask.train.store import SampleStore

__all__ = ["pieces", "load_piece", "make_dataset", "steps_for"]


def pieces(store: SampleStore, split: str) -> np.ndarray:
    """``(k, 2)`` ``[start, stop)`` pieces of ``split``, each inside one Zarr chunk."""
    cs, out = store.chunk, []
    for a, b in store.ranges(split):
        for k in range(a // cs, (b - 1) // cs + 1):
            out.append((max(a, k * cs), min(b, (k + 1) * cs)))
    return np.array(out, "int64").reshape(-1, 2)


def load_piece(store: SampleStore, scaler: Scaler, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Scaled features ``(n, H, W, B)`` and targets ``(n, H, W, 2)`` of samples ``[start, stop)``."""
    g = store.group
    x = np.asarray(g["features"][start:stop])
    nodata = store.group.attrs.get("feature_nodata")
    if nodata is None:
        valid = None
    elif np.isnan(nodata):
        valid = ~np.isnan(x).all(-1)
    else:
        valid = ~(x == nodata).all(-1)
    xs = scaler.transform(x, valid)
    y = np.stack(
        [np.asarray(g["responses"][start:stop], "float32"), np.asarray(g["weights"][start:stop])], -1
    )
    return xs, y


def steps_for(store: SampleStore, split: str, batch_size: int, drop_remainder: bool) -> int:
    """Batches in one pass over ``split``."""
    n = sum(b - a for a, b in store.ranges(split))
    return n // batch_size if drop_remainder else -(-n // batch_size)


def make_dataset(
    store: SampleStore,
    split: str,
    scaler: Scaler,
    *,
    batch_size: int,
    shuffle: bool = False,
    augment: AugmentConfig | None = None,
    repeat: bool = False,
    shuffle_buffer: int = 256,
    seed: int = 0,
) -> Any:
    """The ``tf.data.Dataset`` of ``split`` (train: shuffle, augment and repeat)."""
    import tensorflow as tf

    pcs = pieces(store, split)
    h, b = store.window, store.n_bands

    def _load(piece: Any) -> tuple[np.ndarray, np.ndarray]:
        a, z = (int(v) for v in piece.numpy())
        return load_piece(store, scaler, a, z)

    def _tf_load(piece: Any) -> tuple[Any, Any]:
        x, y = tf.py_function(_load, [piece], [tf.float32, tf.float32])
        x.set_shape((None, h, h, b))
        y.set_shape((None, h, h, 2))
        return x, y

    ds = tf.data.Dataset.from_tensor_slices(pcs)
    if shuffle:
        ds = ds.shuffle(max(len(pcs), 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(_tf_load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle).unbatch()
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed + 1, reshuffle_each_iteration=True)
    if augment is not None and augment.enabled:
        from reefdask.train.augment import make_augment

        ds = ds.map(make_augment(augment, b), num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
    ds = ds.batch(batch_size, drop_remainder=shuffle)
    if repeat:
        ds = ds.repeat()
    return ds.prefetch(tf.data.AUTOTUNE)
