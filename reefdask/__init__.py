"""reefdask: map coral reefs from satellite imagery, from one reef on a laptop to the globe.

The top-level names are imported lazily, so ``import reefdask`` (and ``reefdask --help``)
stays fast and never imports TensorFlow.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

__version__ = "0.1.0"

if os.environ.get("STORAGE_EMULATOR_HOST"):
    # gcsfs asks a gRPC control API for each bucket's type; emulators never answer it
    os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

# public name -> module that defines it
_LAZY = {
    "ReefdaskError": "reefdask.errors",
    "Quad": "reefdask.grid",
    "ClassSchema": "reefdask.classes",
    "default_schema": "reefdask.classes",
    "open_imagery": "reefdask.io",
    "write_cog": "reefdask.io",
    "ingest": "reefdask.cube",
    "open_cube": "reefdask.cube",
    "predict": "reefdask.predict",
    "plan_prediction": "reefdask.predict",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reefdask' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
