"""Strategy, halo, window and step, class codes, batch size: the model contract's resolvers.

They live in :mod:`reefdask.model.geometry` (the global map uses the same halo rule);
these names stay importable from here.
"""

from __future__ import annotations

from reefdask.model.geometry import STRATEGIES, WINDOW_MODES, batch_size, class_codes, geometry

__all__ = ["STRATEGIES", "WINDOW_MODES", "batch_size", "class_codes", "geometry"]
