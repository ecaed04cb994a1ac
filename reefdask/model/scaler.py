"""The feature scaler of the model contract, serialised as plain JSON (no pickle).

Kinds: ``none``; ``standard``, ``minmax``, ``robust`` and ``affine`` (linear:
``{"kind", "center", "scale"}``, applied as ``(x - center) / scale`` per band);
``quantile`` (each band through its fitted quantiles to [0, 1]). This is the format of
:class:`reefdask.model.card.ModelCard` ``scaler``. Training fits scalers
(:func:`reefdask.train.scalers.fit_scaler`); training, prediction and the global map all
apply them with this one class.

Examples
--------
>>> import numpy as np
>>> s = Scaler.from_dict({"kind": "minmax", "center": [1.0], "scale": [99.0]})
>>> float(s.transform(np.array([[100.0]]))[0, 0])
1.0
>>> s.transform(np.array([[100.0]]), valid=np.array([False])).tolist()
[[-10.0]]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reefdask.core.nodata import MODEL_NODATA
from reefdask.errors import ConfigError

__all__ = ["SCALER_KINDS", "Scaler"]

SCALER_KINDS = ("none", "standard", "minmax", "robust", "quantile")


@dataclass(frozen=True, eq=False)
class Scaler:
    """A fitted scaler; ``params`` holds per-band lists (JSON-ready)."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scaler) and self.to_dict() == other.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the model card's ``scaler``)."""
        return {"kind": self.kind, **self.params}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scaler:
        """Rebuild a scaler from :meth:`to_dict` output."""
        kind = d.get("kind")
        if kind not in (*SCALER_KINDS, "affine"):
            raise ConfigError(f"Scaler kind {kind!r} is unknown; use one of {SCALER_KINDS}.")
        return cls(str(kind), {k: v for k, v in d.items() if k != "kind"})

    def transform(self, x: Any, valid: Any = None) -> np.ndarray:
        """Scale ``x`` (``(..., band)``) to float32; pixels not ``valid`` become -10."""
        x = np.asarray(x, dtype="float32")
        if self.kind == "none":
            out = x.copy()
        elif self.kind == "quantile":
            probs = np.asarray(self.params["probs"], "float32")
            out = np.stack(
                [
                    np.interp(x[..., b], np.asarray(v, "float32"), probs)
                    for b, v in enumerate(self.params["values"])
                ],
                axis=-1,
            ).astype("float32")
        else:
            center = np.asarray(self.params["center"], "float32")
            scale = np.asarray(self.params["scale"], "float32")
            out = (x - center) / scale
        if valid is not None:
            out[~np.asarray(valid, bool)] = MODEL_NODATA
        return out

    def inverse_transform(self, z: Any) -> np.ndarray:
        """Undo :meth:`transform` (nodata pixels are not restored)."""
        z = np.asarray(z, dtype="float32")
        if self.kind == "none":
            return z.copy()
        if self.kind == "quantile":
            probs = np.asarray(self.params["probs"], "float32")
            return np.stack(
                [
                    np.interp(z[..., b], probs, np.asarray(v, "float32"))
                    for b, v in enumerate(self.params["values"])
                ],
                axis=-1,
            ).astype("float32")
        return z * np.asarray(self.params["scale"], "float32") + np.asarray(self.params["center"], "float32")
