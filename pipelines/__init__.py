"""Pipeline stages and their example configs.

:data:`STAGES` maps a stage (and its example config ``configs/<stage>.yaml``) to the
config model that validates it; ``reefdask <stage> CONFIG`` runs it. Per-stage
``python -m pipelines.<stage>`` entrypoints and a chained ``pipelines/full.py`` are the
next step (issue 9): they will stay thin wiring over the same library calls.
"""

from __future__ import annotations

import importlib
from typing import Any

STAGES: dict[str, str] = {
    "synth": "reefdask.config:SynthConfig",
    "ingest": "reefdask.config:IngestConfig",
    "acquire": "reefdask.acquire.manifest:Manifest",
    "samples": "reefdask.train.config:SamplesConfig",
    "train": "reefdask.train.config:TrainConfig",
    "sweep": "reefdask.train.config:SweepConfig",
    "clean": "reefdask.clean.config:CleanConfig",
    "calval": "reefdask.calval.config:CalvalConfig",
    "global": "reefdask.globalmap.config:GlobalConfig",
}


def config_model(stage: str) -> Any:
    """The pydantic model that validates ``configs/<stage>.yaml``."""
    module, _, name = STAGES[stage].partition(":")
    return getattr(importlib.import_module(module), name)
