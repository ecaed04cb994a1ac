"""Shared data for the global-map tests: tiny real Keras models and synthetic quads."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Any

import numpy as np

DEEP_WATER = 2  # softmax channel of detailed code 3
FOREREEF = 4  # softmax channel of detailed code 5 (reef group)


def make_model(
    path: str | Path, *, seed: int = 0, threshold: float = 75.0, card: bool = True, **card_extra: Any
) -> str:
    """A tiny fully convolutional softmax model over the 14 default classes, saved as ``.keras``.

    Two 3x3 convolutions (receptive field 2 px): brightness above ``threshold`` leans to
    forereef (reef), below to deep water; seeded small weights spread the other classes.
    """
    import keras

    from reefdask.core.classes import default_schema
    from reefdask.model.card import ModelCard

    rng = np.random.default_rng(seed)
    inp = keras.Input((None, None, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    out = keras.layers.Conv2D(14, 3, padding="same", activation="softmax")(h)
    model = keras.Model(inp, out)
    k1 = np.zeros((3, 3, 3, 4), "float32")
    k1[..., 0] = 1.0 / (27 * 255)  # mean brightness in [0, 1]
    k1[..., 2:] = rng.normal(0, 0.002, size=(3, 3, 3, 2))
    b1 = np.array([0.0, 1.0, 0.1, 0.1], "float32")  # channel 1: a constant 1
    k2 = np.zeros((3, 3, 4, 14), "float32")
    t = threshold / 255
    k2[:, :, 0, FOREREEF] = 80.0 / 9
    k2[:, :, 1, FOREREEF] = -80.0 * t / 9
    k2[:, :, 0, DEEP_WATER] = -80.0 / 9
    k2[:, :, 1, DEEP_WATER] = 80.0 * t / 9
    k2[:, :, 2:, :] = rng.normal(0, 0.1, size=(3, 3, 2, 14))
    b2 = np.full(14, -1.0, "float32")
    model.layers[1].set_weights([k1, b1])
    model.layers[2].set_weights([k2, b2])
    path = str(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    model.save(path)
    if card:
        ModelCard(
            name=f"tiny-{seed}",
            bands=[1, 2, 3],
            scaler={"kind": "none"},
            classes=default_schema().to_dict(),
            receptive_field=2,
            halo=2,
            **card_extra,
        ).save(path)
    return path


def make_quads(root: str | Path, n: int = 16, size: int = 64, **kwargs: Any) -> list[Any]:
    """``n`` synthetic quads (a compact block) under ``root/imagery/belize``."""
    from reefdask.synthetic import synth_quads

    return synth_quads(root, quads=n, size=size, seed=0, **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeGCS:
    """fake-gcs-server (in memory) on loopback: honours ``ifGenerationMatch`` on multipart uploads."""

    def __init__(self) -> None:
        from reefdask.testing.emulators import start_emulator

        self.emulator = start_emulator("fake", timeout=20)
        self.port, self.endpoint, self.proc = self.emulator.port, self.emulator.endpoint, self.emulator.proc

    @property
    def options(self) -> dict[str, Any]:
        return {"endpoint_url": self.endpoint, "token": "anon", "project": "test"}

    def bucket(self, name: str) -> str:
        from reefdask.io.store_gcs import gcs_client as _gcs_client

        _gcs_client(self.options).create_bucket(name)
        return f"gs://{name}"

    def stop(self) -> None:
        self.emulator.stop()


def copy_tree(src: str | Path, dst: str | Path) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)


def gcs_options(endpoint: str) -> dict[str, Any]:
    return {"endpoint_url": endpoint, "token": "anon", "project": "test"}


def new_bucket(endpoint: str) -> str:
    """A fresh bucket on the fake GCS at ``endpoint``; returns ``gs://name``."""
    import uuid

    from reefdask.io.store_gcs import gcs_client as _gcs_client

    name = f"t-{uuid.uuid4().hex[:10]}"
    _gcs_client(gcs_options(endpoint)).create_bucket(name)
    return f"gs://{name}"
