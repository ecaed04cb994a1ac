"""Which windows a sample build keeps: candidates, spatial folds, rejection, class-aware selection.

Steps 1 and 3-5 of :func:`reefdask.train.samples.build_samples` (see its module docstring),
as plain NumPy on the per-window statistics: no I/O here.
"""

from __future__ import annotations

import math

import numpy as np

from reefdask.train.config import SamplesConfig
from reefdask.train.windows import SceneInfo

__all__: list[str] = []

_REASONS = (
    "feature_nodata",
    "response_nodata",
    "outside_boundary",
    "no_label",
    "background_only",
    "straddles_folds",
)


def _candidates(infos: list[SceneInfo], size: int, stride: int) -> np.ndarray:
    """Rows ``(scene, row, col)`` of every window inside its raster."""
    rows = []
    for k, i in enumerate(infos):
        ys = np.arange(0, i.height - size + 1, stride)
        xs = np.arange(0, i.width - size + 1, stride)
        yy, xx = np.meshgrid(ys, xs, indexing="ij")
        rows.append(np.stack([np.full(yy.size, k), yy.ravel(), xx.ravel()], axis=1))
    return np.concatenate(rows).astype("int64") if rows else np.zeros((0, 3), "int64")


def _assign_folds(infos: list[SceneInfo], cand: np.ndarray, cfg: SamplesConfig, size: int) -> np.ndarray:
    """Fold of each candidate (-1: its footprint covers blocks of two folds)."""
    b = cfg.resolved_block()
    nb = [(math.ceil(i.height / b), math.ceil(i.width / b)) for i in infos]
    offsets = np.cumsum([0] + [h * w for h, w in nb])
    rng = np.random.default_rng(cfg.seed)
    block_fold = np.empty(offsets[-1], "int64")
    block_fold[rng.permutation(offsets[-1])] = np.arange(offsets[-1]) % cfg.n_folds
    folds = np.full(len(cand), -1, "int64")
    for k, (s, r, c) in enumerate(cand):
        w = nb[s][1]
        ids = [
            offsets[s] + by * w + bx
            for by in range(r // b, (r + size - 1) // b + 1)
            for bx in range(c // b, (c + size - 1) // b + 1)
        ]
        fs = np.unique(block_fold[ids])
        folds[k] = fs[0] if len(fs) == 1 else -1
    return folds


def _reject(
    fnd: np.ndarray,
    rnd: np.ndarray,
    out: np.ndarray,
    hist: np.ndarray,
    bg: np.ndarray,
    folds: np.ndarray,
    cfg: SamplesConfig,
) -> np.ndarray:
    """Index into ``_REASONS`` of the first rule each candidate breaks; -1 when accepted."""
    fg = np.ones(hist.shape[1], bool)
    fg[bg] = False
    rules = [
        fnd > cfg.max_feature_nodata,
        rnd > cfg.max_response_nodata,
        out > cfg.max_outside_boundary,
        hist.sum(1) == 0,
        hist[:, fg].sum(1) == 0,
        folds < 0,
    ]
    reasons = np.full(len(folds), -1, "int64")
    for k in reversed(range(len(rules))):
        reasons[rules[k]] = k
    return reasons


def _select(
    cand: np.ndarray,
    hist: np.ndarray,
    ok: np.ndarray,
    cfg: SamplesConfig,
    n_scenes: int,
    codes: tuple[int, ...],
) -> np.ndarray:
    """Indices of the chosen candidates (per-scene and total quotas, class-aware preference)."""
    idx = np.flatnonzero(ok)
    if not len(idx):
        return idx
    h = hist[idx].astype("float64")
    frac = h / np.maximum(h.sum(1, keepdims=True), 1)
    freq = h.sum(0) / max(h.sum(), 1)
    mode = cfg.balance.mode
    if mode == "oversample":
        pref = frac @ np.where(freq > 0, np.maximum(freq, 1e-9) ** -cfg.balance.power, 0)
    elif mode == "proportions":
        target = np.array([cfg.balance.targets.get(c, 0.0) for c in codes])
        target = target / max(target.sum(), 1e-12)
        pref = frac @ np.where(freq > 0, target / np.maximum(freq, 1e-9), 0)
    else:
        pref = np.ones(len(idx))
    rng = np.random.default_rng(cfg.seed + 1)
    u = rng.random(len(idx))
    key = np.where(pref > 0, np.log(np.maximum(u, 1e-300)) / np.maximum(pref, 1e-300), -np.inf)
    quota = cfg.max_per_scene or math.ceil(cfg.max_samples / n_scenes)
    keep = []
    for s in np.unique(cand[idx, 0]):
        mine = np.flatnonzero(cand[idx, 0] == s)
        keep.append(mine[np.argsort(-key[mine], kind="stable")[:quota]])
    kept = np.concatenate(keep)
    kept = kept[np.argsort(-key[kept], kind="stable")[: cfg.max_samples]]
    return idx[np.sort(kept)]


def _order(chosen: np.ndarray, folds: np.ndarray, cfg: SamplesConfig) -> np.ndarray:
    """Chosen candidates sorted by fold, shuffled within each fold."""
    rng = np.random.default_rng(cfg.seed + 2)
    shuffled = chosen[rng.permutation(len(chosen))]
    return shuffled[np.argsort(folds[shuffled], kind="stable")]
