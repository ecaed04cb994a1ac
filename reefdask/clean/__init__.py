"""Cleaning: imagery (alpha, bands, one resampling policy), labels, boundaries, edges."""

from __future__ import annotations

from reefdask.clean.config import CleanConfig, load_clean_config
from reefdask.clean.imagery import RESAMPLING, clean_imagery, downsample, downsample_lazy
from reefdask.clean.run import CleanReport, run_clean

__all__ = [
    "RESAMPLING",
    "CleanConfig",
    "CleanReport",
    "clean_imagery",
    "downsample",
    "downsample_lazy",
    "load_clean_config",
    "run_clean",
]
