"""The typed configuration of one prediction (``python -m pipelines.predict CONFIG``).

The same settings as ``reefdask predict``'s options, validated before any model is
loaded; :meth:`PredictConfig.plan_options` gives the keywords of
:func:`reefdask.predict.plan_prediction`.

Examples
--------
>>> from reefdask.config import load_config
>>> cfg = load_config({"model": "m.keras", "imagery": "q.tif", "out": "q.zarr", "chunk": 512}, PredictConfig)
>>> cfg.strategy, cfg.plan_options()["chunk"], cfg.plan_options()["output_dtype"]
('auto', 512, 'uint8')
>>> load_config({"model": "m.keras", "imagery": "q.tif", "out": "q.zarr", "stratgy": "tiles"}, PredictConfig)
Traceback (most recent call last):
...
reefdask.errors.ConfigError: PredictConfig from <dict> is invalid:
  - stratgy: unknown key; did you mean 'strategy'? Valid keys: model, imagery, out, chunk, halo, strategy, \
window, window_mode, bands, batch_size, dtype, overwrite, storage_options
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from reefdask.config import StageConfig

__all__ = ["PredictConfig"]


class PredictConfig(StageConfig):
    """Apply a saved model to one imagery source, chunk by chunk, into a resumable Zarr store."""

    model: str = Field(description="Saved .keras model (its .card.json beside it gives bands and scaler).")
    imagery: str = Field(description="Imagery URL or path (GeoTIFF, COG, VRT, Zarr).")
    out: str = Field(description="Output Zarr store: path, gs://, memory:// ...")
    chunk: int = Field(1024, ge=16, description="Chunk side in pixels (one task per chunk).")
    halo: int | None = Field(None, ge=0, description="Halo in pixels (default: from the model).")
    strategy: Literal["auto", "tiles", "windows"] = Field("auto", description="auto, tiles or windows.")
    window: int | None = Field(None, ge=8, description="Window size of the windows strategy.")
    window_mode: Literal["centre", "blend"] = Field("centre", description="windows: centre or blend.")
    bands: list[int] | None = Field(None, description="1-based bands (default: the model card's).")
    batch_size: int | None = Field(None, ge=1, description="Tiles per model call (default: the plan's).")
    dtype: Literal["uint8", "float32"] = Field(
        "uint8", description="uint8 (percent, 255 nodata) or float32 (NaN nodata)."
    )
    overwrite: bool = Field(False, description="Replace an output made by another model or configuration.")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec/GCS options.")

    def plan_options(self) -> dict[str, Any]:
        """Keywords of :func:`reefdask.predict.plan_prediction` (besides imagery, model, store)."""
        return {
            "chunk": self.chunk,
            "halo": self.halo,
            "strategy": self.strategy,
            "window": self.window,
            "window_mode": self.window_mode,
            "bands": self.bands,
            "batch_size": self.batch_size,
            "output_dtype": self.dtype,
            "overwrite": self.overwrite,
            "storage_options": self.storage_options or None,
        }
