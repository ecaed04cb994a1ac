"""reefdask: map coral reefs from satellite imagery, from one reef on a laptop to the globe.

The top-level names are imported lazily, so ``import reefdask`` (and ``reefdask --help``)
stays fast and never imports TensorFlow.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys
from typing import Any

__version__ = "0.1.0"

if os.environ.get("STORAGE_EMULATOR_HOST"):
    # gcsfs asks a gRPC control API for each bucket's type; emulators never answer it
    os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

# public name -> module that defines it
_LAZY = {
    "ReefdaskError": "reefdask.errors",
    "Quad": "reefdask.core.grid",
    "ClassSchema": "reefdask.core.classes",
    "default_schema": "reefdask.core.classes",
    "open_imagery": "reefdask.io",
    "write_cog": "reefdask.io",
    "ingest": "reefdask.cube",
    "open_cube": "reefdask.cube",
    "predict": "reefdask.predict",
    "plan_prediction": "reefdask.predict",
}

# modules a public name needs loaded to work in full: open_imagery reads cube scenes through the
# reader reefdask.cube.store registers (io, a lower layer, does not import the cube)
_COMPLETES = {"open_imagery": ("reefdask.cube.store",)}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reefdask' has no attribute {name!r}")
    for extra in _COMPLETES.get(name, ()):
        importlib.import_module(extra)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


# modules that moved when the package was laid out in layers: old name -> new name.
# Importing an old name gives the module under its new name (one module object, no copy).
_MOVED = {
    "reefdask.grid": "reefdask.core.grid",
    "reefdask.classes": "reefdask.core.classes",
    "reefdask.schema_checks": "reefdask.core.schema_checks",
    "reefdask.nodata": "reefdask.core.nodata",
    "reefdask.storage": "reefdask.io.storage",
    "reefdask.raster_open": "reefdask.io.raster_open",
    "reefdask.cog": "reefdask.io.cog",
    "reefdask.globalmap.versioned": "reefdask.io.versioned",
    "reefdask.cube_ingest": "reefdask.cube.ingestion",
    "reefdask.modelcard": "reefdask.model.card",
    "reefdask.synthetic_scene": "reefdask.synthetic.scene",
    "reefdask.worldnoise": "reefdask.synthetic.noise",
    "reefdask.emulators": "reefdask.testing.emulators",
    "reefdask.demo_plan": "reefdask.demo.plan",
    "reefdask.demo_steps": "reefdask.demo.steps",
    "reefdask.predict.testing": "reefdask.testing.models",
    "reefdask.calval.testing": "reefdask.testing.calval",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves the old dotted names of moved modules (see ``_MOVED``)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in _MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        # the import system returns whatever sys.modules holds under the name afterwards
        sys.modules[module.__name__] = importlib.import_module(_MOVED[module.__name__])


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())
