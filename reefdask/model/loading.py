"""What the model contract says about a loaded model: its shapes, receptive field, where it runs.

:func:`inspect_model` reads a Keras model's input size, bands, classes and stride;
:func:`measure_receptive_field` measures how far it sees; :func:`task_resources` says
which Dask worker resources model tasks need (training sweeps and prediction ask the
same). Loading models once per process (the cache) is :func:`reefdask.predict.model.load_model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reefdask.errors import ModelError

__all__ = ["ModelInfo", "inspect_model", "measure_receptive_field", "task_resources"]


@dataclass(frozen=True)
class ModelInfo:
    """What the engine needs to know about a model's shapes.

    ``window`` is the fixed input size (None for fully convolutional models),
    ``stride`` the total downsampling (product of pooling sizes and conv strides).
    """

    bands: int
    n_classes: int
    window: int | None
    stride: int


def inspect_model(model: Any) -> ModelInfo:
    """Read input size, band count, class count and stride from a Keras model."""
    shape = tuple(model.inputs[0].shape)
    out = tuple(model.outputs[0].shape)
    if len(shape) != 4 or len(out) != 4:
        raise ModelError(
            f"Expected a 2-D segmentation model (batch, y, x, band) -> (batch, y, x, class); "
            f"got input {shape} and output {out}."
        )
    h, w = shape[1], shape[2]
    if (h is None) != (w is None) or (h is not None and h != w):
        raise ModelError(f"Model input {shape} must be square or fully convolutional (None, None, bands).")
    stride = 1
    for layer in model.layers:
        name = type(layer).__name__
        if "Transpose" in name or "UpSampling" in name:
            continue
        for attr in ("pool_size", "strides"):
            value = getattr(layer, attr, None)
            if value is not None and ("Pool" in name or "Conv" in name):
                stride *= int(np.atleast_1d(value)[0])
                break
    return ModelInfo(bands=int(shape[3]), n_classes=int(out[3]), window=h, stride=max(1, stride))


def measure_receptive_field(model: Any, info: ModelInfo, size: int = 128) -> int:
    """Radius (px) of input that influences an output pixel, measured by perturbation.

    Two random tiles that differ only in their centre pixel go through the model; the
    radius of the output pixels that change is the receptive field. Capped at
    ``size // 2`` (a model that sees further needs an explicit halo).
    """
    size = info.window or -(-size // info.stride) * info.stride
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, size, size, info.bands)).astype("float32")
    x2 = x.copy()
    c = size // 2
    x2[0, c, c, :] += 5.0
    a = model(x, training=False).numpy()
    b = model(x2, training=False).numpy()
    changed = np.argwhere(np.abs(a - b).max(axis=(0, 3)) > 1e-7)
    if changed.size == 0:
        return 0
    return int(np.abs(changed - c).max())


def task_resources(client: Any) -> dict[str, float] | None:
    """Worker resources the model tasks need: ``{"GPU": 1}`` on clusters with GPU workers.

    ``dask.config`` key ``reefdask.predict.resources`` overrides the detection (``{}``: none).
    Detection looks at the workers connected now; an adaptive cluster that has none yet
    should set the key (the ``slurm-gpu`` profile's workers advertise ``GPU=1``).
    """
    import dask

    configured = dask.config.get("reefdask.predict.resources", None)
    if configured is not None:
        return dict(configured) or None
    if client is None:
        return None
    workers = client.scheduler_info().get("workers", {}).values()
    return {"GPU": 1} if any("GPU" in (w.get("resources") or {}) for w in workers) else None
