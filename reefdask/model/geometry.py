"""Resolve how a model runs over tiles: strategy, halo, window and step, class codes, batch size.

One resolver per decision, with the precedence keyword > model card > what the model
itself says (its input shape, stride, measured receptive field) > default. It is the
model contract's one halo rule: :func:`reefdask.predict` resolves its chunks with
:func:`geometry`, and the global map its quads (``chunk`` = the quad size), so both
honour a configured halo the same way, for fully convolutional and fixed-window models.

Examples
--------
>>> _round_up(70, 16)
80
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reefdask.errors import ConfigError

__all__ = ["STRATEGIES", "WINDOW_MODES", "batch_size", "class_codes", "geometry", "with_card_stride"]

STRATEGIES = ("auto", "tiles", "windows")
WINDOW_MODES = ("centre", "blend")


def class_codes(classes: Any, card: Any, n: int) -> tuple[int, ...]:
    """Output code of each of the ``n`` softmax channels: argument > card > default schema > ``1..n``."""
    if classes is None and card is not None:
        classes = card.codes()
    if classes is None:
        from reefdask.core.classes import default_schema

        schema = default_schema()
        return tuple(schema.codes) if schema.n_classes == n else tuple(range(1, n + 1))
    if hasattr(classes, "codes"):
        classes = list(classes.codes)
    elif isinstance(classes, dict):
        from reefdask.core.classes import ClassSchema

        classes = list(ClassSchema.from_dict(classes).codes)
    codes = tuple(int(c) for c in classes)
    if len(codes) != n:
        raise ConfigError(
            f"{len(codes)} class codes given but the model outputs {n} classes; "
            "pass one code per softmax channel."
        )
    if any(not 0 <= c < 255 for c in codes):
        raise ConfigError(f"Class codes {codes} must be within 0..254 (255 is nodata).")
    return codes


def with_card_stride(info: Any, card: Any) -> Any:
    """The model's shapes with the card's stride when the card gives one (> 1): training knows it exactly.

    :func:`reefdask.model.loading.inspect_model` estimates the stride from the layers;
    the card's ``stride`` (from the architecture) wins, for predict and the global map alike.
    """
    if card is not None and card.stride > 1:
        return type(info)(info.bands, info.n_classes, info.window, card.stride)
    return info


def _round_up(v: int, m: int) -> int:
    return -(-v // m) * m


def geometry(
    strategy: str,
    info: Any,
    card: Any,
    receptive_field: Callable[[], int],
    chunk: int,
    halo: int | None,
    window: int | None,
    window_mode: str,
) -> tuple[str, int, int | None, int | None]:
    """``(strategy, halo, window, step)`` from the model's shape, its card and the arguments.

    ``receptive_field`` measures the model's (loading it) and is called only when
    neither the arguments nor the card give a halo.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy {strategy!r} is unknown; use one of {STRATEGIES}.")
    if window_mode not in WINDOW_MODES:
        raise ConfigError(f"window_mode {window_mode!r} is unknown; use one of {WINDOW_MODES}.")
    if strategy == "auto":
        strategy = "tiles" if info.window is None else "windows"
    if strategy == "tiles":
        if info.window is not None:
            raise ConfigError(
                f"The model takes fixed {info.window}-px inputs, so it cannot run as tiles; "
                "use strategy='windows' (or 'auto')."
            )
        if chunk % info.stride:
            raise ConfigError(
                f"chunk={chunk} is not a multiple of the model's stride {info.stride}; "
                f"use chunk={_round_up(chunk, info.stride)}."
            )
        if halo is None and card is not None:
            halo = card.halo if card.halo is not None else card.receptive_field
        if halo is None:
            halo = receptive_field()
        return "tiles", _round_up(int(halo), info.stride), None, None
    size = info.window or window or (2 * card.window_radius if card and card.window_radius else None)
    if size is None:
        raise ConfigError(
            "strategy='windows' with a fully convolutional model needs a window size: "
            "pass window=256 (--window) or set window_radius in the model card."
        )
    if window_mode == "centre":
        if halo is not None:
            step = size - 2 * int(halo)
        elif card is not None and card.loss_window_radius:
            step = 2 * card.loss_window_radius
        else:
            step = size // 2
        if step <= 0 or (size - step) % 2:
            raise ConfigError(
                f"Windows of {size} px keeping {step} px leave no even margin; choose a halo "
                f"below {size // 2} px."
            )
        halo = (size - step) // 2
    else:
        step = size - int(halo) if halo is not None else size // 2
        if not 0 < step <= size:
            raise ConfigError(f"A blend halo must be below the window size {size}; got {halo}.")
        halo = size - step
    if chunk % step:
        raise ConfigError(
            f"chunk={chunk} must be a multiple of the window step {step} so windows sit on one "
            f"lattice across chunks; use chunk={_round_up(chunk, step)}."
        )
    return ("centre" if window_mode == "centre" else "blend"), int(halo), int(size), int(step)


def batch_size(given: int | None, strategy: str) -> int:
    """Keyword > ``dask.config`` ``reefdask.predict.batch-size`` (set it per GPU site) > default."""
    import dask.config

    value = given or dask.config.get("reefdask.predict.batch-size", None)
    return int(value) if value else (1 if strategy == "tiles" else 16)
