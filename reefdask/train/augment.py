"""Random augmentation inside the ``tf.data`` pipeline (training split only).

Geometric transforms (flips, 90-degree rotations, transposes) are applied to the
features *and* the targets together (class index and per-pixel weight travel in the
same tensor), so the weights, the loss window and the nodata follow the pixels.
Radiometric transforms (brightness, contrast, per-band colour shift, Gaussian noise, a
3x3 Gaussian blur now and then) touch the features only, in scaled units, and never
valid-ate a nodata pixel: pixels at ``MODEL_NODATA`` stay there.

TensorFlow is imported inside :func:`make_augment`, the only place that needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reefdask.core.nodata import MODEL_NODATA
from reefdask.train.config import AugmentConfig

__all__ = ["make_augment"]


def make_augment(cfg: AugmentConfig, n_bands: int) -> Callable[[Any, Any], tuple[Any, Any]]:
    """A ``(x, y) -> (x, y)`` function for ``Dataset.map`` on single samples ``(H, W, C)``."""
    import tensorflow as tf

    blur = tf.constant([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0
    blur_kernel = tf.tile(blur[:, :, None, None], [1, 1, n_bands, 1])

    def coin() -> Any:
        return tf.random.uniform(()) < 0.5

    def geometric(z: Any) -> Any:
        if cfg.flips:
            z = tf.cond(coin(), lambda: tf.reverse(z, [1]), lambda: z)
            z = tf.cond(coin(), lambda: tf.reverse(z, [0]), lambda: z)
        if cfg.rotations:
            z = tf.image.rot90(z, tf.random.uniform((), 0, 4, dtype=tf.int32))
        if cfg.transposes:
            z = tf.cond(coin(), lambda: tf.transpose(z, [1, 0, 2]), lambda: z)
        return z

    def radiometric(x: Any) -> Any:
        valid = tf.reduce_any(tf.not_equal(x, MODEL_NODATA), axis=-1, keepdims=True)
        if cfg.contrast > 0:
            mean = tf.reduce_mean(x, axis=[0, 1], keepdims=True)
            x = (x - mean) * tf.random.uniform((), 1 - cfg.contrast, 1 + cfg.contrast) + mean
        if cfg.brightness > 0:
            x = x + tf.random.uniform((), -cfg.brightness, cfg.brightness)
        if cfg.color_shift > 0:
            x = x + tf.random.uniform((1, 1, n_bands), -cfg.color_shift, cfg.color_shift)
        if cfg.noise > 0:
            x = x + tf.random.normal(tf.shape(x), stddev=cfg.noise)
        if cfg.blur_probability > 0:
            blurred = lambda: tf.nn.depthwise_conv2d(x[None], blur_kernel, [1, 1, 1, 1], "SAME")[0]  # noqa: E731
            x = tf.cond(tf.random.uniform(()) < cfg.blur_probability, blurred, lambda: x)
        return tf.where(valid, x, MODEL_NODATA)

    def augment(x: Any, y: Any) -> tuple[Any, Any]:
        if not cfg.enabled:
            return x, y
        z = geometric(tf.concat([x, y], axis=-1))
        x, y = z[..., :n_bands], z[..., n_bands:]
        return radiometric(x), y

    return augment
