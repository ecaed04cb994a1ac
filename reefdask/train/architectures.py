"""Fully convolutional segmentation networks, declared in a registry.

Every network is Keras 3, channels-last, with input ``(None, None, bands)`` so the
inference engine can run it on tiles of any size that is a multiple of its
:func:`stride`, and ends in a softmax over the schema's detailed classes (channel ``i``
is ``schema.codes[i]``).

An architecture is a *skeleton* (``unet``: an encoder-decoder with skips and pooling;
``flat``: no pooling, full resolution throughout) combined with a *block* (``plain``:
stacked convolutions; ``dense``: each convolution sees all earlier outputs of the block;
``residual``: stacked convolutions plus a projected shortcut). A new architecture is one
line::

    register("dense_res_unet", skeleton="unet", block="residual")

Parameters shared by all (:class:`~reefdask.train.config.ArchSpec`): ``filters``,
``blocks`` (layers per block; for U-Nets one block per resolution level),
``kernel_size``, ``batch_norm``, ``growth`` (filter multiplier per level), ``dropout``
(spatial dropout after each block) and ``pool_size``.

Each architecture knows, without building anything, its :func:`stride` (input sizes must
be multiples) and an upper estimate of its :func:`receptive_field` (full width in
pixels of the input that can influence one output pixel, counting every convolution,
pooling and upsampling on the deepest path). :func:`recommended_halo` turns it into the
halo the inference engine should read around each chunk.

Examples
--------
>>> from reefdask.train.config import ArchSpec
>>> spec = ArchSpec(name="unet", blocks=[2, 2, 2], kernel_size=3, pool_size=2)
>>> stride(spec), receptive_field(spec), recommended_halo(spec)
(4, 50, 28)
>>> sorted(ARCHITECTURES)[:3]
['dense_flat_net', 'dense_unet', 'flat_net']
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reefdask.errors import ConfigError
from reefdask.train.config import ArchSpec

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "register",
    "build_model",
    "stride",
    "receptive_field",
    "recommended_halo",
]


@dataclass(frozen=True)
class Architecture:
    """A registered architecture: a skeleton name and a block name."""

    name: str
    skeleton: str
    block: str


ARCHITECTURES: dict[str, Architecture] = {}


def register(name: str, *, skeleton: str, block: str) -> Architecture:
    """Declare an architecture; ``skeleton`` in {unet, flat}, ``block`` in {plain, dense, residual}."""
    if skeleton not in _SKELETONS or block not in _BLOCKS:
        raise ConfigError(
            f"Architecture {name!r}: skeleton must be one of {sorted(_SKELETONS)} and block one of "
            f"{sorted(_BLOCKS)}; got {skeleton!r} / {block!r}."
        )
    arch = Architecture(name, skeleton, block)
    ARCHITECTURES[name] = arch
    return arch


def get(name: str) -> Architecture:
    """The registered architecture ``name``; unknown names raise a ConfigError listing the known."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ConfigError(
            f"Unknown architecture {name!r}; use one of {sorted(ARCHITECTURES)} or register() a new one."
        ) from None


def stride(spec: ArchSpec) -> int:
    """Input sizes must be multiples of this (the total pooling factor)."""
    arch = get(spec.name)
    return spec.pool_size ** (len(spec.blocks) - 1) if arch.skeleton == "unet" else 1


def receptive_field(spec: ArchSpec) -> int:
    """Full width (px) of the input that can influence one output pixel (upper estimate)."""
    arch = get(spec.name)
    k, p = spec.kernel_size, spec.pool_size
    if arch.skeleton == "flat":
        return 1 + (k - 1) * sum(spec.blocks)
    rf, depth = 1, len(spec.blocks)
    for level, n in enumerate(spec.blocks):
        jump = p**level
        convs = n if level == depth - 1 else 2 * n  # encoder + decoder block at this level
        rf += (k - 1) * jump * convs
        if level < depth - 1:
            rf += 3 * (p - 1) * jump  # pooling down, upsampling back up, the p x p conv after it
    return rf


def recommended_halo(spec: ArchSpec) -> int:
    """Half the receptive field, rounded up to a multiple of the stride."""
    s = stride(spec)
    return int(math.ceil(receptive_field(spec) / 2 / s) * s)


def build_model(spec: ArchSpec, n_bands: int, n_classes: int, *, seed: int | None = None) -> Any:
    """Build the Keras model for ``spec``: input ``(None, None, n_bands)``, softmax ``n_classes``.

    With ``seed``, the random initial state (kernel initializers, dropout seeds) is drawn
    from a private RNG seeded with it, in the order Keras would draw from Python's global
    ``random`` after ``keras.utils.set_random_seed(seed)``: the same model, but one that
    other threads cannot disturb (a Dask worker's event loop draws from the global RNG
    while a training task builds its model).
    """
    import keras

    arch = get(spec.name)
    if spec.kernel_size % 2 == 0:
        raise ConfigError(f"architecture.kernel_size {spec.kernel_size} must be odd (e.g. 3).")
    layers = keras.layers if seed is None else _SeededLayers(keras.layers, seed)
    inp = keras.Input((None, None, n_bands), name="features")
    x = _SKELETONS[arch.skeleton](inp, spec, _BLOCKS[arch.block], layers)
    out = layers.Conv2D(n_classes, 1, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inp, out, name=spec.name)


class _SeededLayers:
    """``keras.layers`` whose random layers take their seeds from a private RNG.

    Keras draws ``random.randint(1, 10**9)`` from the global RNG for each unseeded random
    initializer or dropout layer when it is constructed; this draws the same numbers, in
    the same order, from ``random.Random(seed)`` and passes them explicitly.
    """

    _KERNELS = ("Conv2D", "Conv2DTranspose", "Dense")
    _DROPOUTS = ("Dropout", "SpatialDropout2D")

    def __init__(self, layers: Any, seed: int) -> None:
        import random

        self._layers = layers
        self._rng = random.Random(seed)

    def _draw(self) -> int:
        return self._rng.randint(1, int(1e9))

    def __getattr__(self, name: str) -> Any:
        cls = getattr(self._layers, name)
        if name in self._KERNELS:

            def make_kernel_layer(*args: Any, **kw: Any) -> Any:
                if "kernel_initializer" not in kw:
                    import keras

                    kw["kernel_initializer"] = keras.initializers.GlorotUniform(seed=self._draw())
                return cls(*args, **kw)

            return make_kernel_layer
        if name in self._DROPOUTS:

            def make_dropout(*args: Any, **kw: Any) -> Any:
                kw.setdefault("seed", self._draw())
                return cls(*args, **kw)

            return make_dropout
        return cls


# -- blocks ---------------------------------------------------------------------------
Block = Callable[[Any, int, int, ArchSpec, Any], Any]


def _conv(x: Any, filters: int, spec: ArchSpec, L: Any) -> Any:
    x = L.Conv2D(filters, spec.kernel_size, padding="same", use_bias=not spec.batch_norm)(x)
    if spec.batch_norm:
        x = L.BatchNormalization()(x)
    return L.Activation(spec.activation)(x)


def _plain(x: Any, n: int, filters: int, spec: ArchSpec, L: Any) -> Any:
    for _ in range(n):
        x = _conv(x, filters, spec, L)
    return x


def _dense(x: Any, n: int, filters: int, spec: ArchSpec, L: Any) -> Any:
    outputs: list[Any] = []
    for i in range(n):
        inp = x if i == 0 else L.Concatenate()([x, *outputs])
        outputs.append(_conv(inp, filters, spec, L))
    return outputs[0] if n == 1 else L.Concatenate()(outputs)


def _residual(x: Any, n: int, filters: int, spec: ArchSpec, L: Any) -> Any:
    shortcut = L.Conv2D(filters, 1, padding="same")(x)
    y = x
    for i in range(n):
        y = L.Conv2D(filters, spec.kernel_size, padding="same", use_bias=not spec.batch_norm)(y)
        if spec.batch_norm:
            y = L.BatchNormalization()(y)
        if i < n - 1:
            y = L.Activation(spec.activation)(y)
    return L.Activation(spec.activation)(L.Add()([shortcut, y]))


_BLOCKS: dict[str, Block] = {"plain": _plain, "dense": _dense, "residual": _residual}


# -- skeletons ------------------------------------------------------------------------
def _filters(spec: ArchSpec, level: int) -> int:
    return max(1, round(spec.filters * spec.growth**level))


def _dropout(x: Any, spec: ArchSpec, L: Any) -> Any:
    return L.SpatialDropout2D(spec.dropout)(x) if spec.dropout > 0 else x


def _unet(x: Any, spec: ArchSpec, block: Block, L: Any) -> Any:
    depth, p = len(spec.blocks), spec.pool_size
    skips = []
    for level, n in enumerate(spec.blocks):
        x = _dropout(block(x, n, _filters(spec, level), spec, L), spec, L)
        if level < depth - 1:
            skips.append(x)
            x = L.MaxPooling2D(p)(x)
    for level in reversed(range(depth - 1)):
        f = _filters(spec, level)
        x = L.UpSampling2D(p)(x)
        x = L.Conv2D(f, p, padding="same", activation=spec.activation)(x)
        x = L.Concatenate()([x, skips[level]])
        x = _dropout(block(x, spec.blocks[level], f, spec, L), spec, L)
    return x


def _flat(x: Any, spec: ArchSpec, block: Block, L: Any) -> Any:
    for level, n in enumerate(spec.blocks):
        x = _dropout(block(x, n, _filters(spec, level), spec, L), spec, L)
    return x


_SKELETONS: dict[str, Callable[..., Any]] = {"unet": _unet, "flat": _flat}

# -- the registry: one line per architecture --------------------------------------------
register("unet", skeleton="unet", block="plain")
register("dense_unet", skeleton="unet", block="dense")
register("res_unet", skeleton="unet", block="residual")
register("flat_net", skeleton="flat", block="plain")
register("dense_flat_net", skeleton="flat", block="dense")
register("res_flat_net", skeleton="flat", block="residual")
