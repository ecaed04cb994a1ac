"""Optional edge classes: thick boundaries between label classes, for experiments.

The reference practice tried 3-px boundaries between each pair of land / water / reef /
other. :func:`edge_labels` maps labels to a coarser level of the class schema (by
default ``coarse``), finds pixels within ``width_px // 2`` pixels (a square window) of a
pixel of another valid class -- a band ``width_px // 2`` pixels deep on each side of a
boundary, so ``2 * (width_px // 2)`` pixels across -- and gives them an edge class for the
pair::

    code = code_base + 1 + index of (a, b) in pair_codes(level_codes)   (a < b)

where ``a`` is the pixel's own class and ``b`` the other class nearby (the largest
other class in the window when it is larger than ``a``, else the smallest). Other pixels
keep their detailed label; nodata stays nodata.

Examples
--------
>>> pair_codes([1, 2, 3])
[(1, 2), (1, 3), (2, 3)]
>>> import numpy as np
>>> coarse = np.array([[1, 1, 2, 2]], dtype="int16")
>>> edge_labels(coarse, coarse, [1, 2], width_px=3, code_base=100).tolist()
[[1, 101, 101, 2]]
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from reefdask.core.nodata import LABEL_NODATA

__all__ = ["pair_codes", "edge_labels"]


def pair_codes(codes: Sequence[int]) -> list[tuple[int, int]]:
    """Unordered pairs of classes, in the order that numbers edge classes."""
    return list(combinations(sorted(codes), 2))


def edge_labels(
    labels: np.ndarray,
    groups: np.ndarray,
    group_codes: Sequence[int],
    *,
    width_px: int = 3,
    code_base: int = 100,
) -> np.ndarray:
    """Labels with edge classes burnt in where two groups meet (int16)."""
    from scipy.ndimage import maximum_filter, minimum_filter

    size = 2 * (width_px // 2) + 1
    big = np.iinfo("int16").max
    valid = (groups != LABEL_NODATA) & np.isin(groups, list(group_codes))
    g = groups.astype("int32")
    hi = maximum_filter(np.where(valid, g, -big), size=size, mode="nearest")
    lo = minimum_filter(np.where(valid, g, big), size=size, mode="nearest")
    other = np.where(hi > g, hi, np.where(lo < g, lo, g))
    edge = valid & (other != g)
    index = {pair: i for i, pair in enumerate(pair_codes(group_codes))}
    a = np.minimum(g, other)
    b = np.maximum(g, other)
    out = labels.astype("int16").copy()
    for (p, q), i in index.items():
        out[edge & (a == p) & (b == q)] = code_base + 1 + i
    return out
