"""Sample-based accuracy and area estimators for a stratified random sample.

Olofsson et al. (2014), *Good practices for estimating area and assessing accuracy of
land change*, Remote Sensing of Environment 148: 42-57. The strata are the map
classes; ``counts[i, j]`` is the number of sample units mapped as class ``i`` whose
reference class is ``j``; ``W_i`` is the share of the mapped area in class ``i``.

* cell proportions ``p_ij = W_i n_ij / n_i.``
* overall accuracy ``O = sum_j p_jj``, ``V(O) = sum_i W_i² U_i (1 - U_i) / (n_i. - 1)``
* user's accuracy ``U_i = n_ii / n_i.``, ``V(U_i) = U_i (1 - U_i) / (n_i. - 1)``
* producer's accuracy ``P_j = p_jj / p_.j`` with the variance of their eq. 7
  (``N`` = mapped areas)
* area proportion ``p_.k = sum_i W_i n_ik / n_i.``,
  ``V(p_.k) = sum_i W_i² (n_ik/n_i.)(1 - n_ik/n_i.) / (n_i. - 1)``; area ``A p_.k``.

Confidence half-widths are ``z * SE`` with ``z`` the normal quantile (1.96 at 95 %).
A stratum with one sample has no variance estimate: its SEs are NaN.

Examples
--------
>>> import numpy as np
>>> r = stratified_accuracy(np.array([[45, 5], [10, 40]]), [100.0, 900.0])
>>> round(r.overall, 3), r.users.round(2).tolist(), r.area.round(1).tolist()
(0.81, [0.9, 0.8], [270.0, 730.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reefdask.errors import ReefdaskError

__all__ = ["StratifiedAccuracy", "stratified_accuracy", "normal_quantile", "sample_size"]


def normal_quantile(confidence: float) -> float:
    """Two-sided normal quantile: 1.959964 for 0.95."""
    from statistics import NormalDist

    if not 0 < confidence < 1:
        raise ReefdaskError(f"confidence {confidence} must lie strictly between 0 and 1, e.g. 0.95.")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _nan_list(a: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, dtype=np.float64)]


@dataclass(frozen=True)
class StratifiedAccuracy:
    """Estimates with standard errors (``*_se``) and confidence half-widths (``*_ci``)."""

    overall: float
    overall_se: float
    overall_ci: float
    users: np.ndarray
    users_se: np.ndarray
    users_ci: np.ndarray
    producers: np.ndarray
    producers_se: np.ndarray
    producers_ci: np.ndarray
    proportions: np.ndarray
    proportions_se: np.ndarray
    area: np.ndarray
    area_se: np.ndarray
    area_ci: np.ndarray
    confidence: float
    counts: np.ndarray
    stratum_areas: np.ndarray
    labels: tuple[Any, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly numbers (undefined values as ``None``)."""
        out: dict[str, Any] = {"confidence": self.confidence, "labels": list(self.labels)}
        for key in ("overall", "overall_se", "overall_ci"):
            v = getattr(self, key)
            out[key] = float(v) if np.isfinite(v) else None
        for key in (
            "users", "users_se", "users_ci", "producers", "producers_se", "producers_ci",
            "proportions", "proportions_se", "area", "area_se", "area_ci", "stratum_areas",
        ):  # fmt: skip
            out[key] = _nan_list(getattr(self, key))
        out["counts"] = np.asarray(self.counts).astype(int).tolist()
        return out

    def _repr_html_(self) -> str:
        from reefdask.calval.reprs import stratified_html

        return stratified_html(self)


def _check(counts: Any, stratum_areas: Any) -> tuple[np.ndarray, np.ndarray]:
    n = np.asarray(counts, dtype=np.float64)
    a = np.asarray(stratum_areas, dtype=np.float64)
    if n.ndim != 2 or n.shape[0] != n.shape[1]:
        raise ReefdaskError(
            f"counts must be a square matrix (map class x reference class), not shape {n.shape}; "
            "give every class a row and a column, zeros included."
        )
    if a.shape != (n.shape[0],):
        raise ReefdaskError(
            f"stratum_areas has {a.shape} values; give one mapped area per class ({n.shape[0]})."
        )
    if (n < 0).any() or (a < 0).any() or not np.isfinite(a).all() or a.sum() <= 0:
        raise ReefdaskError(
            "counts and stratum_areas must be finite, non-negative, with a positive total area."
        )
    empty = (n.sum(axis=1) == 0) & (a > 0)
    if empty.any():
        raise ReefdaskError(
            f"Strata {np.flatnonzero(empty).tolist()} have mapped area but no samples; "
            "sample every mapped class (at least 2 units each, ideally 50 or more)."
        )
    return n, a


def stratified_accuracy(
    counts: Any,
    stratum_areas: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    labels: Sequence[Any] = (),
) -> StratifiedAccuracy:
    """Olofsson et al. (2014) estimates from sample counts stratified by map class.

    Parameters
    ----------
    counts
        ``counts[i, j]``: samples with map class ``i`` and reference class ``j``.
    stratum_areas
        Mapped area of each class (any unit; :attr:`StratifiedAccuracy.area` uses it).
    confidence
        Level of the confidence intervals.
    labels
        Optional class labels carried into :meth:`StratifiedAccuracy.to_dict`.
    """
    n, mapped = _check(counts, stratum_areas)
    z = normal_quantile(confidence)
    total = mapped.sum()
    w = mapped / total
    ni = n.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(ni[:, None] > 0, n / np.where(ni > 0, ni, 1)[:, None], 0.0)  # n_ij / n_i.
        dof = np.where(ni > 1, ni - 1, np.nan)  # n_i. - 1; one sample: no variance
        p = w[:, None] * frac
        users = np.where(ni > 0, np.diag(frac), np.nan)
        prop = p.sum(axis=0)
        producers = np.where(prop > 0, np.diag(p) / np.where(prop > 0, prop, 1), np.nan)
        overall = float(np.trace(p))

        # each stratum's term; strata without area contribute nothing (even with one sample)
        cell_var = np.where(w[:, None] > 0, frac * (1 - frac) / dof[:, None], 0.0)  # (n_ik/n_i)(1-..)/(n_i-1)
        users_var = np.where(ni > 0, np.diag(frac) * (1 - np.diag(frac)) / dof, np.nan)
        overall_var = float(np.sum(np.where(w > 0, w**2 * users_var, 0.0)))
        prop_var = (w[:, None] ** 2 * cell_var).sum(axis=0)

        ref_total = total * prop  # estimated reference area of each class (N_.j hat)
        prod_var = np.empty(len(w))
        for j in range(len(w)):
            own = mapped[j] ** 2 * (1 - producers[j]) ** 2 * (users_var[j] if mapped[j] > 0 else 0.0)
            others = sum(mapped[i] ** 2 * cell_var[i, j] for i in range(len(w)) if i != j)
            prod_var[j] = (
                (own + producers[j] ** 2 * others) / ref_total[j] ** 2 if ref_total[j] > 0 else np.nan
            )
    overall_se = float(np.sqrt(overall_var)) if np.isfinite(overall_var) else float("nan")
    area_se = total * np.sqrt(prop_var)
    return StratifiedAccuracy(
        overall=overall,
        overall_se=overall_se,
        overall_ci=z * overall_se,
        users=users,
        users_se=np.sqrt(users_var),
        users_ci=z * np.sqrt(users_var),
        producers=producers,
        producers_se=np.sqrt(prod_var),
        producers_ci=z * np.sqrt(prod_var),
        proportions=prop,
        proportions_se=np.sqrt(prop_var),
        area=total * prop,
        area_se=area_se,
        area_ci=z * area_se,
        confidence=confidence,
        counts=n.astype(np.int64),
        stratum_areas=mapped,
        labels=tuple(labels),
    )


def sample_size(users_expected: Sequence[float], weights: Sequence[float], target_se: float = 0.01) -> int:
    """Total sample size for a target SE of overall accuracy (Olofsson et al. 2014, eq. 13).

    ``n = (sum_i W_i S_i / S(O))²`` with ``S_i = sqrt(U_i (1 - U_i))``.

    >>> sample_size([0.7, 0.6, 0.9, 0.95], [0.02, 0.015, 0.32, 0.645], target_se=0.01)
    641
    """
    u = np.asarray(users_expected, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    return int(np.ceil((np.sum(w * np.sqrt(u * (1 - u))) / target_se) ** 2))
