"""Weighted categorical cross-entropy over the loss window, and per-class IoU / F1 metrics.

Targets travel as one tensor ``y_true`` of shape ``(batch, y, x, 2)``: channel 0 holds
the class index (the softmax channel; 255 = nodata) and channel 1 the per-pixel weight
(inverse class frequency inside the loss window, 0 outside it and on nodata). Packing
both lets Keras carry per-pixel weights through ``fit``, ``evaluate`` and checkpoints
without ``sample_weight`` plumbing.

What changed from the reference toolkit
---------------------------------------
The reference multiplied the per-pixel loss by the weights and averaged over *all*
pixels of the batch. Its loss therefore scaled with the share of weighted pixels in
the batch (the loss window, nodata, the class mix), so batches with much nodata or a
rare class pulled with a different strength, and losses of models with another loss
window were not comparable. Here the weighted sum is divided by the **sum of the
weights** of the batch: the loss is a weighted *mean* cross-entropy, independent of how
many pixels count, and a batch without any weighted pixel contributes zero.

This module imports Keras at the top: only training code imports it (never
``reefdask`` or the CLI at start-up). The inference engine loads models with
``compile=False`` and never needs these objects.

Examples
--------
>>> import numpy as np
>>> y = np.zeros((1, 1, 2, 2), "float32"); y[0, 0, :, 0] = [0, 1]; y[0, 0, :, 1] = [1.0, 3.0]
>>> p = np.array([[[[0.8, 0.2], [0.4, 0.6]]]], "float32")
>>> ref = (1 * -np.log(0.8) + 3 * -np.log(0.6)) / 4
>>> bool(np.isclose(float(WeightedCCE()(y, p)), ref, rtol=1e-5))
True
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

__all__ = ["WeightedCCE", "ConfusionMetric", "MacroF1", "MacroIoU", "ClassF1", "ClassIoU", "CUSTOM_OBJECTS"]

_EPS = 1e-7


@keras.saving.register_keras_serializable(package="reefdask")
class WeightedCCE(keras.losses.Loss):
    """Cross-entropy weighted per pixel and normalised by the weight sum.

    Parameters
    ----------
    crop : int
        Pixels dropped on every side before the loss (``window_radius - loss_window_radius``):
        only the loss window is computed. Weights outside it are zero anyway.
    """

    def __init__(self, crop: int = 0, name: str = "weighted_cce", **kwargs: Any) -> None:
        kwargs.setdefault("reduction", "sum")
        super().__init__(name=name, **kwargs)
        self.crop = int(crop)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Weighted mean cross-entropy of the batch (a scalar)."""
        y_true, y_pred = _crop(y_true, self.crop), _crop(y_pred, self.crop)
        n = ops.shape(y_pred)[-1]
        idx = ops.cast(y_true[..., 0], "int32")
        w = ops.cast(y_true[..., 1], y_pred.dtype)
        onehot = ops.one_hot(idx, n, dtype=y_pred.dtype)  # nodata (255) -> all zeros
        ce = -ops.sum(onehot * ops.log(ops.clip(y_pred, _EPS, 1.0)), axis=-1)
        return ops.sum(w * ce) / ops.maximum(ops.sum(w), _EPS)

    def get_config(self) -> dict[str, Any]:
        """Serialisable configuration."""
        return {**super().get_config(), "crop": self.crop}


def _crop(x: Any, c: int) -> Any:
    return x[:, c:-c, c:-c, :] if c > 0 else x


@keras.saving.register_keras_serializable(package="reefdask")
class ConfusionMetric(keras.metrics.Metric):
    """Accumulates the confusion matrix (rows truth, columns prediction) of weighted pixels."""

    def __init__(self, num_classes: int, name: str = "confusion", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.matrix = self.add_weight(
            shape=(self.num_classes, self.num_classes), initializer="zeros", name="matrix", dtype="float32"
        )

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add the pixels of a batch whose weight is positive."""
        n = self.num_classes
        t = ops.reshape(ops.cast(y_true[..., 0], "int32"), (-1,))
        w = ops.reshape(y_true[..., 1], (-1,))
        p = ops.reshape(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), (-1,))
        keep = ops.cast(ops.logical_and(w > 0, t < n), "float32")
        t = ops.where(t < n, t, 0)
        counts = ops.bincount(t * n + p, weights=keep, minlength=n * n)
        self.matrix.assign_add(ops.reshape(ops.cast(counts[: n * n], "float32"), (n, n)))

    def reset_state(self) -> None:
        """Zero the matrix."""
        self.matrix.assign(ops.zeros((self.num_classes, self.num_classes)))

    def _tp_fp_fn(self) -> tuple[Any, Any, Any]:
        m = self.matrix
        tp = ops.diagonal(m)
        return tp, ops.sum(m, axis=0) - tp, ops.sum(m, axis=1) - tp

    def result(self) -> Any:
        """Overall accuracy of the weighted pixels."""
        tp, _, _ = self._tp_fp_fn()
        return ops.sum(tp) / ops.maximum(ops.sum(self.matrix), 1.0)

    def get_config(self) -> dict[str, Any]:
        """Serialisable configuration."""
        return {**super().get_config(), "num_classes": self.num_classes}


def _f1(tp: Any, fp: Any, fn: Any) -> Any:
    return 2 * tp / ops.maximum(2 * tp + fp + fn, 1.0)


def _iou(tp: Any, fp: Any, fn: Any) -> Any:
    return tp / ops.maximum(tp + fp + fn, 1.0)


def _macro(score: Any, tp: Any, fp: Any, fn: Any) -> Any:
    seen = ops.cast((tp + fp + fn) > 0, "float32")  # classes neither present nor predicted do not count
    return ops.sum(score * seen) / ops.maximum(ops.sum(seen), 1.0)


@keras.saving.register_keras_serializable(package="reefdask")
class MacroF1(ConfusionMetric):
    """F1 averaged over the classes present or predicted."""

    def __init__(self, num_classes: int, name: str = "macro_f1", **kwargs: Any) -> None:
        super().__init__(num_classes, name=name, **kwargs)

    def result(self) -> Any:
        """Macro F1."""
        tp, fp, fn = self._tp_fp_fn()
        return _macro(_f1(tp, fp, fn), tp, fp, fn)


@keras.saving.register_keras_serializable(package="reefdask")
class MacroIoU(ConfusionMetric):
    """IoU averaged over the classes present or predicted."""

    def __init__(self, num_classes: int, name: str = "macro_iou", **kwargs: Any) -> None:
        super().__init__(num_classes, name=name, **kwargs)

    def result(self) -> Any:
        """Macro IoU."""
        tp, fp, fn = self._tp_fp_fn()
        return _macro(_iou(tp, fp, fn), tp, fp, fn)


@keras.saving.register_keras_serializable(package="reefdask")
class ClassF1(ConfusionMetric):
    """F1 of one class (softmax channel ``class_index``)."""

    def __init__(self, num_classes: int, class_index: int, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(num_classes, name=name or f"f1_{class_index}", **kwargs)
        self.class_index = int(class_index)

    def result(self) -> Any:
        """F1 of the class."""
        tp, fp, fn = self._tp_fp_fn()
        return _f1(tp, fp, fn)[self.class_index]

    def get_config(self) -> dict[str, Any]:
        """Serialisable configuration."""
        return {**super().get_config(), "class_index": self.class_index}


@keras.saving.register_keras_serializable(package="reefdask")
class ClassIoU(ClassF1):
    """IoU of one class (softmax channel ``class_index``)."""

    def __init__(self, num_classes: int, class_index: int, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(num_classes, class_index, name=name or f"iou_{class_index}", **kwargs)

    def result(self) -> Any:
        """IoU of the class."""
        tp, fp, fn = self._tp_fp_fn()
        return _iou(tp, fp, fn)[self.class_index]


CUSTOM_OBJECTS = {c.__name__: c for c in (WeightedCCE, ConfusionMetric, MacroF1, MacroIoU, ClassF1, ClassIoU)}
