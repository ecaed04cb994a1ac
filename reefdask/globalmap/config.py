"""The configuration of a global run (``reefdask global run CONFIG``).

Examples
--------
>>> from reefdask.config import load_config
>>> cfg = load_config({"run": "out/run", "models": ["m.keras"], "inventory": "bucket/imagery"}, GlobalConfig)
>>> cfg.products, cfg.lease_seconds
(['coarse', 'classes', 'heat', 'outline'], 300.0)
>>> load_config({"run": "r", "models": ["m.keras"], "inventory": "i", "products": ["heat", "hot"]},
...             GlobalConfig)
Traceback (most recent call last):
...
reefdask.errors.ConfigError: GlobalConfig from <dict> is invalid:
  - products: Value error, unknown product(s) ['hot']; use some of ...
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from reefdask.config import StageConfig

__all__ = ["PRODUCTS", "GlobalConfig"]

#: products a run can write; "probabilities" (the detailed classes) is optional
PRODUCTS = ("probabilities", "coarse", "classes", "heat", "outline")


class GlobalConfig(StageConfig):
    """A global run: models, inventory, output store, products, optional domain mask."""

    run: str = Field(description="Run store URL (folder or gs://): sparse Zarr map.zarr + state/.")
    models: list[str] = Field(
        min_length=1, description="Keras model paths/URLs (cards beside them); several = an ensemble."
    )
    weights: list[float] | None = Field(
        None, description="Ensemble weights, one per model (default: a plain mean)."
    )
    inventory: str | list[str] = Field(
        description=(
            "Where the quads are: a folder/prefix searched for L15-*.tif, a glob, an acquire "
            "inventory file (.json/.parquet/.csv), or a list of quad ids or .tif URLs."
        )
    )
    source_prefix: str | None = Field(
        None, description="With quad ids in `inventory`: the folder that holds <id>.tif."
    )
    quads: list[str] | None = Field(None, description="Restrict the run to these quad ids.")
    quad_size: int | None = Field(
        None, ge=16, le=4096, description="Output pixels per quad side (default: the sources')."
    )
    halo: int | None = Field(None, ge=0, description="Halo in pixels (default: the model card's).")
    products: list[str] = Field(
        default_factory=lambda: ["coarse", "classes", "heat", "outline"],
        description=f"Products to write, from {', '.join(PRODUCTS)}.",
    )
    domain: str | list[float] | None = Field(
        None,
        description="Domain mask: a GeoJSON file (lon/lat) or a [west, south, east, north] box; "
        "quads outside are out_of_domain.",
    )
    reef_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Reef decision on the reef probability (default: the card's, else argmax).",
    )
    lease_seconds: float = Field(300.0, gt=0, description="Lease duration; renewed every third of it.")
    batch: int = Field(4, ge=1, description="Quads claimed at a time by a job.")
    wait: bool = Field(True, description="At the end, wait for quads leased by other live jobs.")
    retry: list[str] = Field(
        default_factory=lambda: ["transient"],
        description="Failed quads a job tries again, by failure class: transient (a task lost on the "
        "cluster), missing (the source had vanished), permanent (corrupt source); [] for none.",
    )
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec/GCS options.")

    @field_validator("products")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        bad = [p for p in v if p not in PRODUCTS]
        if bad:
            raise ValueError(f"unknown product(s) {bad}; use some of {list(PRODUCTS)}")
        if not v:
            raise ValueError(f"name at least one product from {list(PRODUCTS)}")
        return v

    @field_validator("retry")
    @classmethod
    def _classes(cls, v: list[str]) -> list[str]:
        from reefdask.work import FAILURES

        bad = [c for c in v if c not in FAILURES]
        if bad:
            raise ValueError(f"unknown failure class(es) {bad}; use some of {list(FAILURES)}")
        return v

    @field_validator("domain")
    @classmethod
    def _box(cls, v: str | list[float] | None) -> str | list[float] | None:
        if isinstance(v, list) and (len(v) != 4 or v[0] > v[2] or v[1] > v[3]):
            raise ValueError("a domain box is [west, south, east, north] in degrees with west <= east")
        return v
