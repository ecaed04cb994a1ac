"""Pipeline entrypoints: one small module per stage, and ``full`` chaining them.

``python -m pipelines.<stage> CONFIG [--workdir DIR]`` runs one stage from a YAML config
(example: ``configs/<stage>.yaml``) through the same library calls as ``reefdask <stage>``;
``python -m pipelines.full CONFIG [--workdir DIR] [--fast]`` runs synth -> acquire -> clean ->
ingest -> samples -> train -> predict -> calval -> global in order. The module of the
``global`` stage is ``pipelines.global_map`` (``global`` is a Python keyword).

Relative paths in a config resolve against the config file's folder, or against ``--workdir``
when given. :data:`STAGES` maps a stage (and its example config) to the config model that
validates it; every entrypoint refuses a config that does not validate before doing any work.
The shared wiring (arguments, config, working folder, exit code) is :mod:`pipelines._run`.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["STAGES", "MODULES", "config_model"]

STAGES: dict[str, str] = {
    "synth": "reefdask.config:SynthConfig",
    "ingest": "reefdask.config:IngestConfig",
    "acquire": "reefdask.acquire.manifest:Manifest",
    "samples": "reefdask.train.config:SamplesConfig",
    "train": "reefdask.train.config:TrainConfig",
    "sweep": "reefdask.train.config:SweepConfig",
    "clean": "reefdask.clean.config:CleanConfig",
    "predict": "reefdask.predict.config:PredictConfig",
    "calval": "reefdask.calval.config:CalvalConfig",
    "global": "reefdask.globalmap.config:GlobalConfig",
    "full": "pipelines.full:FullConfig",
}

#: the entrypoint module of each stage (``python -m pipelines.<module>``)
MODULES: dict[str, str] = {stage: "global_map" if stage == "global" else stage for stage in STAGES}


def config_model(stage: str) -> Any:
    """The pydantic model that validates ``configs/<stage>.yaml``."""
    module, _, name = STAGES[stage].partition(":")
    return getattr(importlib.import_module(module), name)
