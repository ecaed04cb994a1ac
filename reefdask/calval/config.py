"""The configuration of ``reefdask calval CONFIG``: models x sites x baselines -> reports.

Relative local paths are read relative to the configuration file's folder.

Examples
--------
>>> from reefdask.config import load_config
>>> cfg = load_config(
...     {"outdir": "out", "reference": {"url": "ref.tif"}, "models": [{"name": "unet", "url": "pred.zarr"}]},
...     CalvalConfig,
... )
>>> cfg.level, cfg.models[0].name, cfg.align
('reef', 'unet', False)
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from reefdask.config import StageConfig

__all__ = ["MapConfig", "NamedMapConfig", "CalvalConfig"]


class MapConfig(StageConfig):
    """A class map: raster, prediction Zarr, or vector polygons."""

    url: str = Field(description="Path or URL: GeoTIFF/COG/VRT, prediction Zarr, or vector layer.")
    level: str | None = Field(None, description="Level of the codes it holds (default: the schema's finest).")
    variable: Literal["classes", "probabilities"] | None = Field(
        None, description="Prediction Zarr variable to evaluate (default: classes when present)."
    )
    field: str | None = Field(None, description="Vector layers: the attribute holding class codes.")
    nodata: float | None = Field(None, description="Override the raster's nodata value.")

    @model_validator(mode="after")
    def _vector_needs_field(self) -> MapConfig:
        from reefdask.calval.maps import is_vector

        if is_vector(self.url) and not self.field:
            raise ValueError(
                f"{self.url} is a vector layer: set 'field' to the attribute that holds class codes"
            )
        return self


class NamedMapConfig(MapConfig):
    """A model output or baseline map, with the name it carries in reports."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Name in reports (folder-safe).")


class CalvalConfig(StageConfig):
    """Evaluate models and baselines against a reference at the same sites."""

    outdir: str = Field(description="Folder that receives <name>/report.* and comparison/.")
    reference: MapConfig = Field(description="The reference map.")
    models: list[NamedMapConfig] = Field(default_factory=list, description="Model outputs to evaluate.")
    baselines: list[NamedMapConfig] = Field(default_factory=list, description="Baseline maps to evaluate.")
    level: str = Field("reef", description="Evaluation level of the class schema: detailed, coarse or reef.")
    schema_path: str | None = Field(
        None, alias="schema", description="Class schema YAML (default: packaged)."
    )
    sites: str | None = Field(None, description="Site polygons (vector layer); default: the whole grid.")
    site_field: str = Field("name", description="Attribute of the site polygons that names them.")
    imagery: str | None = Field(None, description="Imagery on the prediction grid, for the site maps.")
    align: bool = Field(False, description="Reproject a reference on another grid (nearest neighbour).")
    positive: int | None = Field(None, description="Positive class code (default: 'reef' at the level).")
    chunks: int = Field(1024, ge=16, description="Dask chunk side in pixels.")
    title: str = Field("Calval comparison", description="Title of the comparison report.")

    @model_validator(mode="after")
    def _check(self) -> CalvalConfig:
        maps = [*self.models, *self.baselines]
        if not maps:
            raise ValueError("give at least one entry under 'models' or 'baselines'")
        names = [m.name for m in maps]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"names must be unique across models and baselines; repeated: {dup}")
        return self
