"""Chunked, resumable, seam-free inference: ``reefdask.predict(imagery, model, store)``.

Modules: :mod:`.plan` (decide), :mod:`.graph` (the block function mapped over the
output's chunk grid), :mod:`.engine` (the block function: one chunk), :mod:`.strategies`
(tiles / windows), :mod:`.ledger` (per-chunk records and claims, a view of
:mod:`reefdask.work`), :mod:`.output` (template and region writes), :mod:`.model`
(per-process model cache), :mod:`.preprocess` (bands, scaler, nodata encoding),
:mod:`.run` (batches, progress, summary).

``reefdask.predict`` is both this package and the function: the package is callable,
so ``reefdask.predict(...)`` works whichever one attribute access returns.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from reefdask.predict.ledger import ChunkRecord, Ledger
from reefdask.predict.plan import PredictionPlan, plan_prediction
from reefdask.predict.preprocess import Preprocessing
from reefdask.predict.run import PredictionSummary, execute, predict, prediction_status

__all__ = [
    "ChunkRecord",
    "Ledger",
    "PredictionPlan",
    "PredictionSummary",
    "Preprocessing",
    "execute",
    "plan_prediction",
    "predict",
    "prediction_status",
]


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return predict(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
