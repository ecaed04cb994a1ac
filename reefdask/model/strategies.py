"""How a model turns one tile (chunk or quad + halo) into its probabilities (the model contract's).

``predict``'s chunk tasks and the global map's quads run models through these
functions only (:func:`run_strategy` dispatches on the resolved geometry of
:func:`reefdask.model.geometry.geometry`).

Every strategy takes the preprocessed tile ``x`` ``(Ty, Tx, band)`` whose origin is
the chunk origin minus ``halo`` (already padded with the nodata encoding beyond the
data), and returns ``(h, w, class)`` float32 for the chunk itself.

* :func:`tiles` -- one model call on the whole tile, padded up to a multiple of the
  model's stride, then cropped (fully convolutional models).
* :func:`windows_centre` -- the reference practice: windows of the model's size every
  ``step`` pixels, keeping each window's central ``step`` block (``halo = (W - step) / 2``).
* :func:`windows_blend` -- windows every ``step`` pixels blended with a squared-sine
  (Hann) weight that is never zero (``halo = W - step``).

Window positions lie on a lattice fixed to the scene (chunk sizes are multiples of
``step``), so the result does not depend on the chunking.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["STRATEGY_NAMES", "hann_weights", "run_strategy", "tiles", "windows_blend", "windows_centre"]

#: what a resolved geometry names (:func:`reefdask.model.geometry.geometry`)
STRATEGY_NAMES = ("tiles", "centre", "blend")


def _numpy(out: Any) -> np.ndarray:
    return np.asarray(out.numpy() if hasattr(out, "numpy") else out, dtype="float32")


def _call(model: Any, batch: np.ndarray, batch_size: int) -> np.ndarray:
    steps = range(0, len(batch), batch_size)
    outs = [_numpy(model(batch[i : i + batch_size], training=False)) for i in steps]
    return np.concatenate(outs, axis=0)


def _pad_to(x: np.ndarray, ty: int, tx: int, value: float) -> np.ndarray:
    py, px = max(0, ty - x.shape[0]), max(0, tx - x.shape[1])
    if py or px:
        x = np.pad(x, ((0, py), (0, px), (0, 0)), constant_values=value)
    return x


def tiles(model: Any, x: np.ndarray, *, halo: int, h: int, w: int, stride: int, fill: float) -> np.ndarray:
    """One call on the tile padded to a multiple of ``stride``; crop the chunk."""
    ty, tx = -(-x.shape[0] // stride) * stride, -(-x.shape[1] // stride) * stride
    p = _call(model, _pad_to(x, ty, tx, fill)[None], 1)[0]
    return p[halo : halo + h, halo : halo + w]


def windows_centre(
    model: Any,
    x: np.ndarray,
    *,
    window: int,
    step: int,
    halo: int,
    h: int,
    w: int,
    fill: float,
    batch_size: int,
) -> np.ndarray:
    """Windows every ``step`` px keeping their central ``step`` block (the legacy rule)."""
    ny, nx = -(-h // step), -(-w // step)
    x = _pad_to(x, (ny - 1) * step + window, (nx - 1) * step + window, fill)
    batch = np.stack(
        [x[i * step : i * step + window, j * step : j * step + window] for i in range(ny) for j in range(nx)]
    )
    p = _call(model, batch, batch_size)[:, halo : halo + step, halo : halo + step]
    out = p.reshape(ny, nx, step, step, -1).transpose(0, 2, 1, 3, 4).reshape(ny * step, nx * step, -1)
    return out[:h, :w]


def hann_weights(window: int) -> np.ndarray:
    """2-D squared-sine weights of a window, strictly positive (so every pixel is covered)."""
    t = np.sin(np.pi * (np.arange(window) + 0.5) / window) ** 2
    return np.outer(t, t).astype("float32")


def windows_blend(
    model: Any,
    x: np.ndarray,
    *,
    window: int,
    step: int,
    halo: int,
    h: int,
    w: int,
    fill: float,
    batch_size: int,
) -> np.ndarray:
    """Windows every ``step`` px, averaged with Hann weights where they overlap."""
    ys = list(range(0, halo + h, step))
    xs = list(range(0, halo + w, step))
    ty, tx = ys[-1] + window, xs[-1] + window
    x = _pad_to(x, ty, tx, fill)
    weights = hann_weights(window)[..., None]
    acc: np.ndarray | None = None
    norm = np.zeros((ty, tx, 1), dtype="float32")
    pos = [(i, j) for i in ys for j in xs]
    for k in range(0, len(pos), batch_size):
        part = pos[k : k + batch_size]
        p = _call(model, np.stack([x[i : i + window, j : j + window] for i, j in part]), batch_size)
        if acc is None:
            acc = np.zeros((ty, tx, p.shape[-1]), dtype="float32")
        for (i, j), pi in zip(part, p, strict=True):
            acc[i : i + window, j : j + window] += pi * weights
            norm[i : i + window, j : j + window] += weights
    assert acc is not None
    return (acc / norm)[halo : halo + h, halo : halo + w]


def run_strategy(
    model: Any,
    x: np.ndarray,
    strategy: str,
    *,
    halo: int,
    h: int,
    w: int,
    stride: int = 1,
    window: int | None = None,
    step: int | None = None,
    fill: float,
    batch_size: int = 8,
) -> np.ndarray:
    """Run the resolved ``strategy`` (``tiles``, ``centre`` or ``blend``) on one tile: the one dispatch.

    ``predict``'s chunk tasks and the global map's quads both call this, so a model runs
    the same way on both paths.
    """
    if strategy == "tiles":
        return tiles(model, x, halo=halo, h=h, w=w, stride=stride, fill=fill)
    if strategy not in STRATEGY_NAMES or window is None or step is None:
        raise ValueError(f"strategy {strategy!r} needs a window and a step; use one of {STRATEGY_NAMES}.")
    run = windows_centre if strategy == "centre" else windows_blend
    return run(model, x, window=window, step=step, halo=halo, h=h, w=w, fill=fill, batch_size=batch_size)
