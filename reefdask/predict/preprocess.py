"""Preprocessing identical to training: band selection, scaling, nodata encoding.

The :class:`Preprocessing` travels into every chunk task (it is tiny) and is part of
the model fingerprint, so a changed scaler or band list is a different model.

Examples
--------
>>> import numpy as np
>>> pre = Preprocessing(bands=(1, 2), scaler={"kind": "affine", "center": [10, 0], "scale": [2, 1]})
>>> raw = np.array([[[10, 0]], [[4, 0]]], dtype="uint8")      # (band, y, x), nodata 0
>>> x, valid = pre.apply(raw, nodata=0)
>>> x[0].tolist(), valid.tolist()                             # (y, x, band) float32
([[0.0, 4.0], [-10.0, -10.0]], [[True, False]])
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from reefdask.core.nodata import MODEL_NODATA, valid_mask_array
from reefdask.errors import ConfigError

__all__ = ["Preprocessing", "canonical_json", "short_hash"]


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces) for hashing."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def short_hash(obj: Any, n: int = 16) -> str:
    """First ``n`` hex digits of the sha256 of ``canonical_json(obj)``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:n]


@dataclass(frozen=True)
class Preprocessing:
    """How raw ``(band, y, x)`` imagery becomes a model input ``(y, x, band)`` float32.

    Parameters
    ----------
    bands : tuple of int
        Band labels (values of the imagery's ``band`` coordinate) in model channel order.
    scaler : dict
        ``{"kind": "none"}`` or ``{"kind": ..., "center": [...], "scale": [...]}``.
    nodata_encoding : float
        Value of nodata pixels after scaling (:data:`reefdask.core.nodata.MODEL_NODATA`).
    class_codes : tuple of int
        Output class code of each softmax channel; empty means ``1..n`` at run time.
    """

    bands: tuple[int, ...]
    scaler: dict[str, Any] = field(default_factory=lambda: {"kind": "none"})
    nodata_encoding: float = MODEL_NODATA
    class_codes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "bands", tuple(int(b) for b in self.bands))
        object.__setattr__(self, "class_codes", tuple(int(c) for c in self.class_codes))
        if not self.bands:
            raise ConfigError(
                "preprocessing.bands is empty: name the imagery bands the model takes, e.g. [1, 2, 3]."
            )
        kind = self.scaler.get("kind")
        if kind not in ("none", "robust", "standard", "minmax", "affine", "quantile"):
            raise ConfigError(
                f"preprocessing.scaler kind {kind!r} is unknown: "
                "use 'none', 'quantile' or a center/scale scaler."
            )
        if kind == "quantile":
            values = self.scaler.get("values")
            if values is None or len(values) != len(self.bands) or "probs" not in self.scaler:
                raise ConfigError(
                    f"preprocessing.scaler of kind 'quantile' needs 'probs' and one 'values' list per band "
                    f"({len(self.bands)}); got {sorted(self.scaler)}."
                )
        elif kind != "none":
            for key in ("center", "scale"):
                vals = self.scaler.get(key)
                if vals is None or len(vals) != len(self.bands):
                    raise ConfigError(
                        f"preprocessing.scaler[{key!r}] must hold one value per band ({len(self.bands)}); "
                        f"got {vals!r}."
                    )
            if any(float(s) == 0 for s in self.scaler["scale"]):
                raise ConfigError(
                    "preprocessing.scaler['scale'] has a zero: every band needs a non-zero scale."
                )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (part of the model fingerprint)."""
        d = asdict(self)
        d["bands"] = list(self.bands)
        d["class_codes"] = list(self.class_codes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        """Inverse of :meth:`to_dict`."""
        return cls(
            bands=tuple(d["bands"]),
            scaler=dict(d.get("scaler") or {"kind": "none"}),
            nodata_encoding=float(d.get("nodata_encoding", MODEL_NODATA)),
            class_codes=tuple(d.get("class_codes") or ()),
        )

    def band_indices(self, band_labels: Any) -> list[int]:
        """Positions of :attr:`bands` along an imagery band axis labelled ``band_labels``."""
        labels = [int(b) for b in band_labels]
        missing = [b for b in self.bands if b not in labels]
        if missing:
            raise ConfigError(
                f"The model wants bands {list(self.bands)} but the imagery has bands {labels}; "
                "pass imagery with those bands or fix the model card's 'bands'."
            )
        return [labels.index(b) for b in self.bands]

    def apply(self, raw: np.ndarray, nodata: float | None) -> tuple[np.ndarray, np.ndarray]:
        """Scale and encode one block of already band-selected imagery.

        Parameters
        ----------
        raw : ndarray ``(band, y, x)``
            The selected bands, any dtype.
        nodata : float or None
            Imagery nodata value (a pixel is nodata when every band equals it).

        Returns
        -------
        x : ndarray ``(y, x, band)`` float32
            Model input with nodata pixels set to :attr:`nodata_encoding`.
        valid : ndarray ``(y, x)`` bool
        """
        from reefdask.train.scalers import Scaler  # the one scaler training used too

        valid = np.asarray(valid_mask_array(raw, nodata))
        x = Scaler.from_dict(self.scaler).transform(np.moveaxis(raw, 0, -1))
        x[~valid] = self.nodata_encoding
        return np.ascontiguousarray(x, dtype="float32"), valid
