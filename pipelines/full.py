"""The whole chain: synth -> acquire -> clean -> ingest -> samples -> train -> predict -> calval -> global.

``python -m pipelines.full CONFIG [--workdir DIR] [--fast]`` (example ``configs/full.yaml``).
CONFIG holds one section per stage, each exactly that stage's config (validated by the same
model as ``pipelines.<stage>``); a section left out is a stage not run. Every stage reads
what the previous ones wrote, under one working folder: relative paths resolve against
CONFIG's folder, or ``--workdir``. ``fast: true`` (or ``--fast``) applies ``fast_settings``,
dotted ``<stage>.<key>`` overrides such as ``train.epochs: 2``: tiny quads and short
training, for CI. Every stage skips finished work, so a rerun only does what is missing.
The chain stops at the first stage that fails (exit code 1).
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from pipelines._run import Outcome, main
from reefdask.acquire.manifest import Manifest
from reefdask.calval.config import CalvalConfig
from reefdask.clean.config import CleanConfig
from reefdask.config import IngestConfig, StageConfig, SynthConfig
from reefdask.globalmap.config import GlobalConfig
from reefdask.predict.config import PredictConfig
from reefdask.train.config import SamplesConfig, TrainConfig

__all__ = ["ORDER", "FullConfig", "apply_settings", "cli", "run"]

#: the stages of the chain, in the order they run
ORDER = ("synth", "acquire", "clean", "ingest", "samples", "train", "predict", "calval", "global")


def apply_settings(data: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with each dotted ``stage.key[.subkey]`` of ``settings`` set.

    >>> apply_settings({"train": {"epochs": 50, "architecture": {}}},
    ...                {"train.epochs": 2, "train.architecture.filters": 8})
    {'train': {'epochs': 2, 'architecture': {'filters': 8}}}
    """
    out = copy.deepcopy(data)
    for dotted, value in settings.items():
        *parents, leaf = str(dotted).split(".")
        node = out
        for i, part in enumerate(parents):
            if not isinstance(node.get(part), dict):
                where = ".".join(parents[: i + 1])
                raise ValueError(
                    f"fast_settings sets {dotted!r} but the config has no section {where!r}; "
                    "add the section or remove the setting"
                )
            node = node[part]
        if not parents:
            raise ValueError(f"fast_settings key {dotted!r} must be <stage>.<key>, e.g. train.epochs")
        node[leaf] = value
    return out


class FullConfig(StageConfig):
    """The chain: one optional section per stage, plus the settings of ``fast`` runs."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    fast: bool = Field(False, description="Apply `fast_settings` (tiny quads, short training: CI).")
    fast_settings: dict[str, Any] = Field(
        default_factory=dict, description="Dotted <stage>.<key> -> value, applied when `fast`."
    )
    synth: SynthConfig | None = None
    acquire: Manifest | None = None
    clean: CleanConfig | None = None
    ingest: IngestConfig | None = None
    samples: SamplesConfig | None = None
    train: TrainConfig | None = None
    predict: PredictConfig | None = None
    calval: CalvalConfig | None = None
    global_: GlobalConfig | None = Field(None, alias="global")

    @model_validator(mode="before")
    @classmethod
    def _fast(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("fast"):
            return apply_settings(data, data.get("fast_settings") or {})
        return data

    def section(self, stage: str) -> Any:
        """The config of ``stage`` (None when the chain leaves it out)."""
        return getattr(self, "global_" if stage == "global" else stage)


def _with_fast(cfg: FullConfig, args: argparse.Namespace) -> FullConfig:
    """``--fast``: the same config re-validated with ``fast: true``."""
    from reefdask.config import load_config
    from reefdask.errors import ConfigError

    if not args.fast or cfg.fast:
        return cfg
    data = cfg.model_dump(by_alias=True, exclude_unset=True)
    try:
        return load_config({**data, "fast": True}, FullConfig)
    except ConfigError as err:
        raise ConfigError(f"{args.config} with --fast: {err}") from None


def run(cfg: FullConfig) -> Outcome:
    """Run each configured stage in :data:`ORDER`; stop at the first that fails."""
    from pipelines import acquire, calval, clean, global_map, ingest, predict, samples, synth, train

    runners = {
        "synth": synth.run,
        "acquire": acquire.run,
        "clean": clean.run,
        "ingest": ingest.run,
        "samples": samples.run,
        "train": train.run,
        "predict": predict.run,
        "calval": calval.run,
        "global": global_map.run,
    }
    t_start = time.perf_counter()
    times: dict[str, float] = {}
    outputs: dict[str, Any] = {}
    for stage in ORDER:
        section = cfg.section(stage)
        if section is None:
            continue
        print(f"[{stage}] ...", flush=True)
        t0 = time.perf_counter()
        outcome = runners[stage](section)
        times[stage] = round(time.perf_counter() - t0, 1)
        outputs[stage] = outcome.outputs
        print(outcome.summary)
        print(f"[{stage}] {'done' if outcome.ok else 'FAILED'} in {times[stage]} s", flush=True)
        if not outcome.ok:
            return Outcome(False, f"full: stopped at {stage}, which failed", outputs)
    took = ", ".join(f"{k} {v} s" for k, v in times.items())
    total = time.perf_counter() - t_start
    mode = " (fast)" if cfg.fast else ""
    return Outcome(True, f"full{mode}: {len(times)} stages in {total:.1f} s ({took})", outputs)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fast", action="store_true", help="Apply the config's fast_settings (CI).")


def cli(argv: list[str] | None = None) -> int:
    """``python -m pipelines.full``: parse ``argv``, validate, run the chain; the exit code."""
    return main("full", run, __doc__, argv, add_arguments=_arguments, prepare=_with_fast)


if __name__ == "__main__":
    raise SystemExit(cli())
