"""The model card: everything needed to apply a saved Keras model exactly as it was trained.

A card is a small JSON file saved beside the model: ``model.keras`` -> ``model.card.json``.
Training writes it; :func:`reefdask.predict` reads it, so band selection, scaling, the
nodata encoding, the class schema and the context the model needs (its halo) travel
with the weights instead of living in a user's head.

Scaler format (``scaler``), applied per selected band as ``(x - center) / scale``:

* ``{"kind": "none"}`` -- values go to the model as they are (as float32);
* ``{"kind": "robust" | "standard" | "minmax" | "affine", "center": [...], "scale": [...]}``
  with one number per band (robust: median and the 10-90 % quantile range, as the
  reference practice fitted it);
* ``{"kind": "quantile", "probs": [...], "values": [[...] per band]}``: each band mapped
  through its fitted quantiles to [0, 1] by linear interpolation.

Scalers are applied by :class:`reefdask.train.scalers.Scaler`, the one implementation that
training and inference share.

Examples
--------
>>> card = ModelCard(bands=[1, 2, 3], scaler={"kind": "none"}, class_codes=[1, 2], stride=4, halo=32)
>>> card_url("gs://b/models/unet.keras")
'gs://b/models/unet.card.json'
>>> ModelCard.model_validate_json(card.model_dump_json()) == card
True
>>> card.codes()
[1, 2]
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reefdask.core.nodata import MODEL_NODATA
from reefdask.errors import ModelError

__all__ = ["ModelCard", "card_html", "card_url", "read_card"]

_SCALER_KINDS = ("none", "robust", "standard", "minmax", "affine", "quantile")


class ModelCard(BaseModel):
    """Provenance and preprocessing of a trained model (JSON beside ``<model>.keras``).

    Attributes
    ----------
    bands : list of int
        Band labels (the imagery's ``band`` coordinate, 1-based like rioxarray) fed to
        the model, in the model's channel order.
    nodata_encoding : float
        Value that nodata pixels take in model inputs, after scaling (``-10``).
    scaler : dict
        Per-band scaling, see the module docstring.
    classes : dict, optional
        Class schema in :meth:`reefdask.core.classes.ClassSchema.to_dict` form; softmax
        channel ``i`` is ``schema.codes[i]``.
    class_codes : list of int, optional
        Output class codes when no full schema is given.
    window_radius, loss_window_radius : int, optional
        Training window ``r`` and loss window ``l`` (windows of ``2r``, loss on ``2l``).
    stride : int
        Total downsampling of the network: tile sizes must be a multiple of it.
    receptive_field : int, optional
        Radius in pixels of the input that influences one output pixel.
    halo : int, optional
        Recommended halo for chunked inference (defaults to the receptive field).
    fingerprint : str, optional
        Fingerprint of weights + preprocessing written by training (informative;
        the engine recomputes its own from the files).
    """

    # undefined scores (NaN, the metrics' zero-division rule) are written as the JSON constant NaN
    model_config = ConfigDict(extra="allow", ser_json_inf_nan="constants")

    name: str = ""
    bands: list[int] = Field(min_length=1)
    nodata_encoding: float = MODEL_NODATA
    scaler: dict[str, Any] = Field(default_factory=lambda: {"kind": "none"})
    classes: dict[str, Any] | None = None
    class_codes: list[int] | None = None
    window_radius: int | None = None
    loss_window_radius: int | None = None
    stride: int = Field(default=1, ge=1)
    receptive_field: int | None = Field(default=None, ge=0)
    halo: int | None = Field(default=None, ge=0)
    fingerprint: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    created: str | None = None

    @field_validator("scaler")
    @classmethod
    def _check_scaler(cls, v: dict[str, Any]) -> dict[str, Any]:
        kind = v.get("kind")
        if kind not in _SCALER_KINDS:
            raise ValueError(f"scaler kind {kind!r} is not one of {_SCALER_KINDS}")
        if kind == "quantile":
            if not ("probs" in v and "values" in v):
                raise ValueError("a 'quantile' scaler needs 'probs' and 'values' (quantiles per band)")
        elif kind != "none" and not ("center" in v and "scale" in v):
            raise ValueError(f"a {kind!r} scaler needs 'center' and 'scale' lists (one value per band)")
        return v

    def codes(self) -> list[int] | None:
        """Class codes of the softmax channels, in channel order (None when unknown)."""
        if self.classes is not None:
            from reefdask.core.classes import ClassSchema

            return list(ClassSchema.from_dict(self.classes).codes)
        return None if self.class_codes is None else list(self.class_codes)

    def _repr_html_(self) -> str:
        return card_html(self)

    def save(self, model: str, storage_options: dict[str, Any] | None = None) -> str:
        """Write the card beside ``model`` (a ``.keras`` path or URL); return the card's URL."""
        from reefdask.io.storage import write_bytes_atomic

        url = card_url(model)
        write_bytes_atomic(url, self.model_dump_json(indent=2).encode(), storage_options)
        return url

    @classmethod
    def load(cls, url: str, storage_options: dict[str, Any] | None = None) -> ModelCard:
        """Read a card from its JSON path or URL."""
        from reefdask.io.storage import read_bytes

        raw = read_bytes(url, storage_options)
        try:
            return cls.model_validate(json.loads(raw))
        except (ValidationError, json.JSONDecodeError) as err:
            raise ModelError(
                f"Model card {url} is invalid: {err}. Rewrite it with ModelCard.save()."
            ) from err


def card_url(model: str) -> str:
    """The card's URL for a model path or URL: ``x.keras`` -> ``x.card.json``."""
    s = str(model).rstrip("/")
    root, ext = posixpath.splitext(s)
    return f"{root if ext in ('.keras', '.h5') else s}.card.json"


def read_card(model: str, storage_options: dict[str, Any] | None = None) -> ModelCard | None:
    """The card beside ``model``, or None when there is none."""
    from reefdask.io.storage import exists

    url = card_url(model)
    return ModelCard.load(url, storage_options) if exists(url, storage_options) else None


def card_html(card: ModelCard) -> str:
    """The notebook view of a card: inputs, scaler per band, classes (with validation scores), metrics."""
    from reefdask.reporting.html import block, fields, section, swatch, table

    extra = card.model_extra or {}
    arch = extra.get("architecture") or {}
    decision = extra.get("reef_decision") or {}
    about = {
        "bands": ", ".join(str(b) for b in card.bands),
        "scaler": card.scaler.get("kind"),
        "nodata encoding": card.nodata_encoding,
        "architecture": arch.get("name") and f"{arch.get('name')} (filters {arch.get('filters')})",
        "stride": card.stride,
        "receptive field (px)": card.receptive_field,
        "halo (px)": card.halo,
        "window radius (px)": card.window_radius,
        "reef decision": decision.get("kind")
        and f"{decision['kind']} {decision.get('threshold', '')}".strip(),
        "fingerprint": card.fingerprint,
        "created": card.created,
    }
    parts = [fields(about)]
    sc = card.scaler
    if "center" in sc and "scale" in sc:
        rows = [[b, c, s] for b, c, s in zip(card.bands, sc["center"], sc["scale"], strict=False)]
        parts.append(
            section("scaler (x - center) / scale", table(["band", "center", "scale"], rows), open=False)
        )
    codes = card.codes() or []
    names, colors = [str(c) for c in codes], ["#dddddd"] * len(codes)
    if card.classes is not None:
        from reefdask.core.classes import ClassSchema

        schema = ClassSchema.from_dict(card.classes)
        names, colors = list(schema.names), list(schema.colors)
    if codes:
        val = (extra.get("class_metrics") or {}).get("val") or {}
        keys = [k for k in ("precision", "recall", "f1") if len(val.get(k) or []) == len(codes)]
        rows = [
            [code, swatch(color, name), *(val[k][i] for k in keys)]
            for i, (code, name, color) in enumerate(zip(codes, names, colors, strict=False))
        ]
        head = ["code", "class", *(f"val {k}" for k in keys)]
        parts.append(section(f"{len(codes)} classes", table(head, rows)))
    if card.metrics:
        parts.append(section("metrics", table(["metric", "value"], sorted(card.metrics.items())), open=False))
    if card.versions:
        parts.append(section("versions", fields(card.versions), open=False))
    return block("Model card", card.name or "(unnamed)", *parts)
