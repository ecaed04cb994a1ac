"""Tile and window strategies: the model contract's, :mod:`reefdask.model.strategies` (importable here)."""

from __future__ import annotations

from reefdask.model.strategies import (
    STRATEGY_NAMES,
    hann_weights,
    run_strategy,
    tiles,
    windows_blend,
    windows_centre,
)

__all__ = ["STRATEGY_NAMES", "hann_weights", "run_strategy", "tiles", "windows_blend", "windows_centre"]
