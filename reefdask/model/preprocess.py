"""How pixels become model inputs: band selection, scaling, nodata encoding (one implementation).

Training (the sample pipeline, :mod:`reefdask.train.dataset`), prediction
(:mod:`reefdask.predict`) and the global map (:mod:`reefdask.globalmap`) turn pixels
into model inputs here and nowhere else:

1. a pixel is nodata when every band equals the imagery's nodata value (every band NaN
   for a NaN nodata; :func:`reefdask.core.nodata.valid_mask_array`);
2. the scaler (:class:`reefdask.model.scaler.Scaler`) maps each band to float32;
3. nodata pixels, and any value that is not finite after scaling (a NaN band of an
   otherwise valid float pixel), become the nodata encoding (``-10``): NaN never
   reaches the network.

:func:`encode_features` does this in NumPy; :func:`encode_features_tf` does the same
with TensorFlow ops for the training pipeline (linear scalers), and the parity tests
prove the two give the same numbers. The :class:`Preprocessing` travels into every
chunk task (it is tiny) and is part of the model fingerprint
(:func:`reefdask.model.fingerprint.model_fingerprint`).

Examples
--------
>>> import numpy as np
>>> pre = Preprocessing(bands=(1, 2), scaler={"kind": "affine", "center": [10, 0], "scale": [2, 1]})
>>> raw = np.array([[[10, 0]], [[4, 0]]], dtype="uint8")      # (band, y, x), nodata 0
>>> x, valid = pre.apply(raw, nodata=0)
>>> x[0].tolist(), valid.tolist()                             # (y, x, band) float32
([[0.0, 4.0], [-10.0, -10.0]], [[True, False]])
>>> f = np.array([[[np.nan, np.nan], [1.0, np.nan]]], "float32")   # (y, x, band), NaN nodata
>>> encode_features(f, float("nan"), {"kind": "none"})[0].tolist()
[[[-10.0, -10.0], [1.0, -10.0]]]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from reefdask.core.nodata import MODEL_NODATA, is_nan, valid_mask_array
from reefdask.errors import ConfigError
from reefdask.model.scaler import Scaler

__all__ = ["Preprocessing", "encode_features", "encode_features_tf", "feature_valid"]


def feature_valid(x: Any, nodata: float | None) -> np.ndarray:
    """Boolean ``x.shape[:-1]``: True where the pixel of ``x (..., band)`` holds data."""
    return np.asarray(valid_mask_array(x, nodata, axis=-1))


def _scaler(scaler: Scaler | dict[str, Any]) -> Scaler:
    return scaler if isinstance(scaler, Scaler) else Scaler.from_dict(scaler)


def encode_features(
    x: Any, nodata: float | None, scaler: Scaler | dict[str, Any], encoding: float = MODEL_NODATA
) -> tuple[np.ndarray, np.ndarray]:
    """Model input ``(..., band)`` float32 and validity ``(...)`` of raw pixels ``x (..., band)``.

    ``scaler`` is a :class:`~reefdask.model.scaler.Scaler` or its dict form; nodata
    pixels and non-finite scaled values become ``encoding``.
    """
    x = np.asarray(x)
    valid = feature_valid(x, nodata)
    out = _scaler(scaler).transform(x)
    out[~valid] = encoding
    out[~np.isfinite(out)] = encoding
    return np.ascontiguousarray(out, dtype="float32"), valid


def encode_features_tf(
    x: Any, nodata: float | None, scaler: Scaler | dict[str, Any], encoding: float = MODEL_NODATA
) -> Any:
    """:func:`encode_features` as TensorFlow ops (linear scalers): ``(..., band)`` tensor -> float32."""
    import tensorflow as tf

    sc = _scaler(scaler)
    if sc.kind == "quantile":
        raise ConfigError("encode_features_tf takes linear scalers only; use encode_features for 'quantile'.")
    x = tf.cast(x, tf.float32)  # exact for the 8/16-bit integers and float32 it is given
    valid = None
    if nodata is not None:
        keep = tf.logical_not(tf.math.is_nan(x)) if is_nan(nodata) else tf.not_equal(x, float(nodata))
        valid = tf.reduce_any(keep, axis=-1, keepdims=True)
    if sc.kind != "none":
        x = (x - tf.constant(sc.params["center"], tf.float32)) / tf.constant(sc.params["scale"], tf.float32)
    fill = tf.constant(encoding, tf.float32)
    if valid is not None:
        x = tf.where(valid, x, fill)
    return tf.where(tf.math.is_finite(x), x, fill)


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
            Model input with nodata pixels set to :attr:`nodata_encoding`
            (:func:`encode_features`).
        valid : ndarray ``(y, x)`` bool
        """
        return encode_features(np.moveaxis(raw, 0, -1), nodata, self.scaler, self.nodata_encoding)
