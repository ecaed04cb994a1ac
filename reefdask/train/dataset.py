"""A ``tf.data`` pipeline streaming samples from the Zarr sample store.

The store is never loaded whole: the pipeline lists the chunk-aligned pieces of the
split (samples are sorted by fold, so a split is a few contiguous ranges), shuffles the
pieces each epoch, reads several pieces in parallel (Zarr decompression releases the
GIL), scales them (nodata -> ``MODEL_NODATA``, by :mod:`reefdask.model.preprocess`, the
code prediction and the global map use), unbatches them into a bounded shuffle
buffer, augments, batches and prefetches. Memory: ``shuffle_buffer`` samples plus a few
chunks in flight.

Only features and responses are read: scaling (linear scalers), the nodata encoding
and the per-pixel weights (class weight of the store x loss-window mask, the very
values of the store's ``weights`` array) are computed as vectorised TensorFlow ops on
whole chunks, outside the GIL, and the uint8 features travel at a quarter of the
float32 size, so the pipeline keeps pace with the model on two cores.

Targets are ``(batch, H, W, 2)``: class index and per-pixel weight, as
:class:`reefdask.train.losses.WeightedCCE` expects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reefdask.model.preprocess import encode_features, encode_features_tf
from reefdask.model.scaler import Scaler
from reefdask.train.config import AugmentConfig
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
    xs, _ = encode_features(x, g.attrs.get("feature_nodata"), scaler)
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
    deterministic: bool = False,
) -> Any:
    """The ``tf.data.Dataset`` of ``split`` (train: shuffle, augment and repeat).

    ``deterministic`` keeps the parallel maps in order, so a seed fixes the batches.
    """
    import tensorflow as tf

    pcs = pieces(store, split)
    h, b = store.window, store.n_bands
    g = store.group
    raw_dtype = np.dtype(g["features"].dtype)
    native = raw_dtype in (np.uint8, np.uint16, np.int16, np.float32) and scaler.kind != "quantile"
    out_dtype = tf.as_dtype(raw_dtype) if native else tf.float32
    class_w = np.zeros(256, "float32")
    cw = store.attrs.get("class_weights") or []
    class_w[: len(cw)] = cw
    crop = int(store.attrs["window_radius"]) - int(store.attrs["loss_window_radius"])
    inner = np.zeros((h, h), "float32")
    inner[crop : h - crop, crop : h - crop] = 1.0

    def _load(piece: Any) -> tuple[np.ndarray, np.ndarray]:
        a, z = (int(v) for v in piece.numpy())
        x = np.asarray(g["features"][a:z])
        if not native:
            x = load_piece(store, scaler, a, z)[0]
        return x, np.asarray(g["responses"][a:z])

    nodata = store.attrs.get("feature_nodata")

    def _prepare(x: Any, resp: Any) -> tuple[Any, Any]:
        # scaling, nodata encoding and weights as vectorised TF ops on a whole chunk (no GIL),
        # with the model contract's own TF twin of encode_features (NaN nodata included)
        if native:
            x = encode_features_tf(x, nodata, scaler)
        w = tf.gather(tf.constant(class_w), tf.cast(resp, tf.int32)) * tf.constant(inner)
        return x, tf.stack([tf.cast(resp, tf.float32), w], axis=-1)

    def _tf_load(piece: Any) -> tuple[Any, Any]:
        x, resp = tf.py_function(_load, [piece], [out_dtype, tf.uint8])
        x.set_shape((None, h, h, b))
        resp.set_shape((None, h, h))
        return _prepare(x, resp)

    ds = tf.data.Dataset.from_tensor_slices(pcs)
    if shuffle:
        ds = ds.shuffle(max(len(pcs), 1), seed=seed, reshuffle_each_iteration=True)
    ordered = deterministic or not shuffle
    ds = ds.map(_tf_load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=ordered).unbatch()
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed + 1, reshuffle_each_iteration=True)
    if augment is not None and augment.enabled:
        from reefdask.train.augment import make_augment

        ds = ds.map(make_augment(augment, b), num_parallel_calls=tf.data.AUTOTUNE, deterministic=ordered)
    ds = ds.batch(batch_size, drop_remainder=shuffle)
    if repeat:
        ds = ds.repeat()
    return ds.prefetch(tf.data.AUTOTUNE)
