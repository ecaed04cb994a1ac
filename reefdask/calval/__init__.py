"""Calibration/validation: confusion matrices, area-true accuracy, stratified estimates, reports.

Names are imported lazily so that the command line stays fast.

Examples
--------
>>> from reefdask.calval import stratified_accuracy
>>> round(stratified_accuracy([[9, 1], [2, 8]], [50.0, 50.0]).overall, 2)
0.85
"""

from __future__ import annotations

import importlib
from typing import Any

# `evaluate` and `confusion` are functions AND submodules of the same name: bound here at
# once (they import only NumPy), because once a submodule is imported Python sets the
# package attribute to the module, and the lazy lookup below would never run for them.
from reefdask.calval.confusion import confusion as confusion
from reefdask.calval.evaluate import evaluate as evaluate

_LAZY = {
    "Confusion": "reefdask.calval.confusion",
    "PixelAreas": "reefdask.calval.area",
    "row_areas": "reefdask.calval.area",
    "class_metrics": "reefdask.calval.metrics",
    "binary_summary": "reefdask.calval.metrics",
    "site_means": "reefdask.calval.metrics",
    "StratifiedAccuracy": "reefdask.calval.stratified",
    "stratified_accuracy": "reefdask.calval.stratified",
    "sample_size": "reefdask.calval.stratified",
    "allocate": "reefdask.calval.sampling",
    "stratified_sample": "reefdask.calval.sampling",
    "write_samples": "reefdask.calval.sampling",
    "read_samples": "reefdask.calval.sampling",
    "accuracy_from_samples": "reefdask.calval.sampling",
    "Evaluation": "reefdask.calval.evaluate",
    "write_report": "reefdask.calval.report",
    "compare_reports": "reefdask.calval.report",
    "CalvalConfig": "reefdask.calval.config",
    "run_calval": "reefdask.calval.run",
}

__all__ = sorted([*_LAZY, "confusion", "evaluate"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reefdask.calval' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
