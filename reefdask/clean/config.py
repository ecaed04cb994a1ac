"""The typed configuration of ``reefdask clean`` (YAML, validated, unknown keys refused).

Steps run in order, each parallel over scenes: ``imagery`` -> ``labels`` ->
``boundaries`` -> ``edges``; a step left out (``null``) is not run. Outputs are one
GeoTIFF per quad, named ``<output>/<quad id>.tif``. Inputs and outputs are local
folders: ``reefdask acquire`` brings the sources to disk first.

Examples
--------
>>> cfg = CleanConfig.model_validate({
...     "imagery": {"inputs": "raw/imagery", "output": "clean/imagery", "factor": 2},
...     "labels": {"output": "clean/labels",
...                "sources": [{"kind": "raster", "path": "raw/labels/**/*.tif"}]}})
>>> cfg.resampling, cfg.imagery.factor, cfg.labels.sources[0].mapping is None
('average', 2, True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from reefdask.config import StageConfig

__all__ = [
    "ImageryStep",
    "LabelSource",
    "LabelsStep",
    "BoundariesStep",
    "EdgesStep",
    "CleanConfig",
    "load_clean_config",
]

Resampling = Literal["average", "nearest"]


class ImageryStep(StageConfig):
    """Alpha -> nodata, band selection and downsampling of imagery quads."""

    inputs: str = Field(description="Folder (searched with `pattern`) holding <region>/<quad>.tif.")
    pattern: str = Field("**/*.tif", description="Glob of imagery files under `inputs`.")
    output: str = Field(description="Folder that receives <quad>.tif.")
    bands: list[int] | None = Field(
        None, description="1-based source bands to keep (default: all but alpha)."
    )
    alpha: int | Literal["auto", "none"] = Field(
        "auto",
        description="Alpha band: auto (colour interpretation, else the 4th of 4 uint8 bands), none, or N.",
    )
    factor: Literal[1, 2, 4] = Field(1, description="Downsampling factor (1 = full resolution).")


class LabelSource(StageConfig):
    """One layer of labels, burnt in order (later layers on top of earlier ones)."""

    kind: Literal["vector", "raster"] = Field(description="Vector polygons to rasterize, or label rasters.")
    path: str = Field(description="Vector file (GeoJSON, Shapefile, GeoPackage) or glob of label rasters.")
    layer: str | None = Field(None, description="Layer of a multi-layer vector file.")
    attribute: str | None = Field(None, description="Vector attribute that holds the class.")
    mapping: dict[str | int, str | int | None] | None = Field(
        None,
        description="Attribute/raster value -> class name or detailed code; null or absent -> nodata. "
        "None: values are already detailed codes.",
    )

    @model_validator(mode="after")
    def _attribute_for_vectors(self) -> LabelSource:
        if self.kind == "vector" and self.attribute is None and self.mapping is not None:
            raise ValueError("a vector layer with a `mapping` needs the `attribute` that holds the class")
        return self


class LabelsStep(StageConfig):
    """Rasterize / remap labels onto the exact grid of each cleaned imagery quad."""

    output: str = Field(description="Folder that receives <quad>.tif (int16, nodata -9999).")
    sources: list[LabelSource] = Field(min_length=1)
    grid: str | None = Field(None, description="Folder of imagery quads whose grids labels follow "
                             "(default: the imagery step's output).")  # fmt: skip
    schema_path: str | None = Field(None, description="Class schema YAML (default: the built-in schema).")
    all_touched: bool = Field(
        False, description="Burn every pixel a polygon touches, not only pixel centres."
    )
    land_classes: list[str] = Field(["land", "supplementary land"], description="Classes counted as land.")
    min_non_land_fraction: float = Field(
        0.001,
        ge=0,
        le=1,
        description="Drop label quads whose valid non-land pixels are fewer than this fraction.",
    )


class BoundariesStep(StageConfig):
    """Sampling boundaries: non-land buffered by ``buffer_m`` metres, from cleaned labels."""

    output: str = Field(description="Folder that receives one boundary raster per label quad.")
    buffer_m: float = Field(64.0, ge=0, description="Buffer around non-land, in metres (reference: 64).")


class EdgesStep(StageConfig):
    """Optional edge classes: thick boundaries between coarse classes, for experiments."""

    output: str = Field(description="Folder that receives one edge-class raster per label quad.")
    width_px: int = Field(3, ge=1, le=64, description="Edge thickness in pixels (reference: 3).")
    level: str = Field("coarse", description="Schema level whose classes meet at edges.")
    code_base: int = Field(100, ge=15, le=30000, description="Edge codes are code_base + 1, + 2, ...")


class CleanConfig(StageConfig):
    """``reefdask clean``: which steps, where, and one resampling policy for all of them."""

    workers: int = Field(2, ge=1, le=256, description="Scenes processed at once (Dask threads).")
    resampling: Resampling = Field(
        "average", description="THE imagery downsampling policy, shared with application (see clean.imagery)."
    )
    imagery: ImageryStep | None = None
    labels: LabelsStep | None = None
    boundaries: BoundariesStep | None = None
    edges: EdgesStep | None = None
    claim_ttl: float = Field(1800.0, gt=0, description="Seconds after which another run's claim is stale.")

    @model_validator(mode="after")
    def _has_grid(self) -> CleanConfig:
        if self.labels is not None and self.labels.grid is None and self.imagery is None:
            raise ValueError(
                "labels need a grid: set `labels.grid` to a folder of imagery quads or add `imagery`"
            )
        if (self.boundaries or self.edges) and self.labels is None:
            raise ValueError("boundaries and edges are made from labels: add a `labels` step")
        return self

    @property
    def label_grid(self) -> str | None:
        """Folder of the imagery quads that give label grids."""
        if self.labels is None:
            return None
        return self.labels.grid or (self.imagery.output if self.imagery else None)


def load_clean_config(path: str | Path) -> CleanConfig:
    """Read and validate a clean config YAML (errors name each bad key and the fix)."""
    from reefdask.config import load_config

    return load_config(str(path), CleanConfig)
