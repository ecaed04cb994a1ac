"""Feature scalers, fitted out of core and serialised as plain JSON.

Kinds: ``none``; ``standard`` (mean, std); ``minmax`` (min, max - min); ``robust``
(median, 90 % - 10 % quantile range, as the reference practice fitted it); ``quantile``
(each band through its empirical CDF to [0, 1]). Linear kinds serialise as
``{"kind", "center", "scale"}`` and apply ``(x - center) / scale`` per band: the
format of :class:`reefdask.model.card.ModelCard`. No pickle anywhere. The fitted
:class:`~reefdask.model.scaler.Scaler` lives in the model contract (re-exported here).

:func:`fit_scaler` reads a Dask array ``(..., band)`` block by block, each block
reduced to a few per-band numbers and a histogram (exact, one bin per value, for
8/16-bit integers; 4096 bins between the band's minimum and maximum for floats), so
memory never grows with the data. Nodata pixels (every band equal to ``nodata``, or NaN)
are left out of the fit, and come out of :meth:`Scaler.transform` as ``MODEL_NODATA``
(-10), per :mod:`reefdask.core.nodata`.

Examples
--------
>>> import numpy as np, dask.array as da
>>> x = np.arange(1, 101, dtype="float64").reshape(1, 10, 10, 1)
>>> s = fit_scaler("minmax", da.from_array(x, chunks=(1, 5, 10, 1)))
>>> s.to_dict()
{'kind': 'minmax', 'center': [1.0], 'scale': [99.0]}
>>> float(s.transform(np.array([[100.0]]))[0, 0])
1.0
>>> Scaler.from_dict(s.to_dict()) == s
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reefdask.errors import ConfigError
from reefdask.model.scaler import SCALER_KINDS, Scaler

__all__ = ["SCALER_KINDS", "Scaler", "fit_scaler"]

_FLOAT_BINS = 4096
_N_QUANTILES = 101


def fit_scaler(kind: str, features: Any, nodata: float | None = None) -> Scaler:
    """Fit a scaler of ``kind`` on a Dask (or NumPy) array ``(..., band)``, out of core."""
    if kind not in SCALER_KINDS:
        raise ConfigError(f"scaler {kind!r} is unknown; use one of {SCALER_KINDS}.")
    if kind == "none":
        return Scaler("none")
    import dask
    import dask.array as da

    arr = da.asarray(features)
    arr = arr.rechunk({arr.ndim - 1: -1})
    blocks = list(arr.to_delayed().ravel())
    integer = np.issubdtype(arr.dtype, np.integer) and arr.dtype.itemsize <= 2
    moments = _tree([dask.delayed(_moments)(b, nodata) for b in blocks], _sum_moments)
    (m,) = dask.compute(moments)
    if m["count"].min() == 0:
        raise ConfigError("The scaler found no valid feature pixel in the training folds; check the samples.")
    lo, hi = m["min"], m["max"]
    if kind == "standard":
        mean = m["sum"] / m["count"]
        std = np.sqrt(np.maximum(m["sumsq"] / m["count"] - mean**2, 0))
        return _linear(kind, mean, std)
    if kind == "minmax":
        return _linear(kind, lo, hi - lo)
    if integer:
        offset = int(np.iinfo(arr.dtype).min)
        edges = np.arange(offset, int(np.iinfo(arr.dtype).max) + 2, dtype="float64")
    else:
        edges = np.linspace(lo.min(), hi.max() if hi.max() > lo.min() else lo.min() + 1, _FLOAT_BINS + 1)
    hists = _tree([dask.delayed(_histogram)(b, nodata, edges, integer) for b in blocks], _sum_arrays)
    (hist,) = dask.compute(hists)
    probs = np.linspace(0, 1, _N_QUANTILES)
    values = np.stack([_quantiles(hist[b], edges, probs, integer) for b in range(hist.shape[0])])
    if kind == "robust":
        q = _quantiles_at(values, probs, (0.1, 0.5, 0.9))
        return _linear(kind, q[:, 1], q[:, 2] - q[:, 0])
    return Scaler("quantile", {"probs": probs.round(6).tolist(), "values": values.tolist()})


def _linear(kind: str, center: np.ndarray, scale: np.ndarray) -> Scaler:
    scale = np.where(np.asarray(scale) > 0, scale, 1.0)  # constant bands pass through shifted
    return Scaler(kind, {"center": [float(c) for c in center], "scale": [float(s) for s in scale]})


def _valid_pixels(block: np.ndarray, nodata: float | None) -> np.ndarray:
    flat = np.asarray(block).reshape(-1, block.shape[-1])
    if nodata is None:
        return flat[np.isfinite(flat).all(axis=1)] if flat.dtype.kind == "f" else flat
    if isinstance(nodata, float) and np.isnan(nodata):
        return flat[~np.isnan(flat).all(axis=1)]
    return flat[~(flat == nodata).all(axis=1)]


def _moments(block: np.ndarray, nodata: float | None) -> dict[str, np.ndarray]:
    v = _valid_pixels(block, nodata).astype("float64")
    nb = block.shape[-1]
    if len(v) == 0:
        inf = np.full(nb, np.inf)
        return {"count": np.zeros(nb), "sum": np.zeros(nb), "sumsq": np.zeros(nb), "min": inf, "max": -inf}
    return {
        "count": np.full(nb, float(len(v))),
        "sum": v.sum(0),
        "sumsq": (v * v).sum(0),
        "min": v.min(0),
        "max": v.max(0),
    }


def _sum_moments(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    out = {k: np.sum([p[k] for p in parts], axis=0) for k in ("count", "sum", "sumsq")}
    out["min"] = np.min([p["min"] for p in parts], axis=0)
    out["max"] = np.max([p["max"] for p in parts], axis=0)
    return out


def _histogram(block: np.ndarray, nodata: float | None, edges: np.ndarray, integer: bool) -> np.ndarray:
    v = _valid_pixels(block, nodata)
    if integer:
        off = int(edges[0])
        return np.stack(
            [np.bincount(v[:, b].astype("int64") - off, minlength=len(edges) - 1) for b in range(v.shape[1])]
        ).astype("int64")
    return np.stack([np.histogram(v[:, b], bins=edges)[0] for b in range(v.shape[1])]).astype("int64")


def _sum_arrays(parts: list[np.ndarray]) -> np.ndarray:
    return np.sum(parts, axis=0)


def _tree(parts: list[Any], combine: Any, fan_in: int = 16) -> Any:
    import dask

    while len(parts) > 1:
        parts = [dask.delayed(combine)(parts[i : i + fan_in]) for i in range(0, len(parts), fan_in)]
    return parts[0]


def _quantiles(hist: np.ndarray, edges: np.ndarray, probs: np.ndarray, integer: bool) -> np.ndarray:
    cdf = np.cumsum(hist) / max(hist.sum(), 1)
    if integer:  # exact: the smallest value whose CDF reaches p
        idx = np.searchsorted(cdf, probs * (1 - 1e-12), side="left").clip(0, len(hist) - 1)
        return edges[idx]
    return np.interp(probs, np.concatenate([[0.0], cdf]), edges)  # linear within bins


def _quantiles_at(values: np.ndarray, probs: np.ndarray, at: tuple[float, ...]) -> np.ndarray:
    return np.stack([[np.interp(a, probs, v) for a in at] for v in values])
