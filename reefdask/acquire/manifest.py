"""The acquisition manifest: which files to copy from where to where (YAML, validated).

A manifest names one ``destination`` (a local folder or an fsspec URL) and a list of
``sources``. A source is either a ``url`` prefix searched with a glob ``pattern`` (a
``gs://`` bucket prefix, a local folder, any fsspec URL that can list) or an explicit
list of ``urls`` (HTTP(S) files, which cannot be listed). Each source says what its
files are (``kind``: imagery, labels, boundaries, baselines or other; labels also give
their ``format``, raster or vector) and is copied under ``destination/<dest>/`` keeping
its path relative to the prefix, so region folders survive the copy.

Filters
-------
``filters.quads``: fnmatch patterns on quad ids (``L15-05*``); files whose name is not a
quad id (a vector layer, say) are not affected by them. ``filters.regions`` and
``filters.exclude_regions``: fnmatch patterns on the region folder (the folder that
holds the file, relative to the prefix).

Examples
--------
>>> m = Manifest.model_validate({
...     "destination": "/tmp/raw",
...     "sources": [{"name": "quads", "kind": "imagery", "url": "gs://b/mosaic",
...                  "filters": {"regions": ["belize*"]}}]})
>>> m.sources[0].dest_folder, m.sources[0].pattern
('imagery', '**/*.tif')
>>> m.sources[0].filters.accepts("L15-0525E-1122N.tif", "belize")
True
>>> m.sources[0].filters.accepts("L15-0525E-1122N.tif", "hawaii")
False
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from reefdask.errors import ConfigError, InputNotFoundError, QuadIdError

__all__ = ["Filters", "Source", "Manifest", "load_manifest"]

Kind = Literal["imagery", "labels", "boundaries", "baselines", "other"]


class Filters(BaseModel):
    """Which quads and region folders of a source to take (empty lists take all)."""

    model_config = ConfigDict(extra="forbid")

    quads: list[str] = Field(default_factory=list, description="fnmatch patterns on quad ids")
    regions: list[str] = Field(default_factory=list, description="region folders to include")
    exclude_regions: list[str] = Field(default_factory=list, description="region folders to exclude")

    def accepts(self, name: str, region: str) -> bool:
        """Whether a file ``name`` found in ``region`` passes the filters."""
        if self.regions and not any(fnmatch.fnmatchcase(region, p) for p in self.regions):
            return False
        if any(fnmatch.fnmatchcase(region, p) for p in self.exclude_regions):
            return False
        if self.quads:
            from reefdask.core.grid import Quad

            try:
                quad = Quad.parse(name).id
            except QuadIdError:
                return True  # not a quad file: quad filters do not apply
            return any(fnmatch.fnmatchcase(quad, p) for p in self.quads)
        return True


class Source(BaseModel):
    """One place to copy from: a listable prefix plus a glob, or explicit URLs."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="name of the source in reports and the verification records")
    kind: Kind = Field(description="what it holds; also the default destination subfolder")
    url: str | None = Field(None, description="prefix to search (gs://, local folder, ...)")
    pattern: str = Field("**/*.tif", description="glob relative to url")
    urls: list[str] = Field(default_factory=list, description="explicit file URLs (HTTP(S) or any)")
    format: Literal["raster", "vector"] | None = Field(None, description="for labels: raster or vector")
    dest: str | None = Field(None, description="subfolder of the destination (default: kind)")
    storage_options: dict[str, Any] = Field(
        default_factory=dict, description="fsspec options of the source (token, project, endpoint...)"
    )
    filters: Filters = Field(default_factory=Filters)

    @model_validator(mode="after")
    def _one_kind_of_location(self) -> Source:
        if (self.url is None) == (not self.urls):
            raise ValueError("give either `url` (a prefix to search) or `urls` (a list of files), not both")
        if self.kind == "labels" and self.format is None:
            self.format = (
                "vector" if self.pattern.endswith((".gpkg", ".shp", ".geojson", ".json")) else "raster"
            )
        return self

    @property
    def dest_folder(self) -> str:
        """Folder under the manifest's destination that receives this source."""
        return self.dest or self.kind


class Manifest(BaseModel):
    """What to acquire: sources, one destination, and how hard to try."""

    model_config = ConfigDict(extra="forbid")

    destination: str = Field(min_length=1, description="folder or fsspec URL that receives every source")
    sources: list[Source] = Field(min_length=1, description="places to copy from (see Source)")
    workers: int = Field(8, ge=1, le=256, description="parallel copies (Dask threads)")
    retries: int = Field(4, ge=0, le=20, description="retries on transient errors")
    backoff: float = Field(0.5, ge=0, description="first retry delay in seconds, doubled each time")
    verify_rasters: bool = Field(True, description="open each downloaded .tif before publishing it")
    fsync: bool = Field(
        True, description="flush each copy to disk before publishing it (survives power loss)"
    )
    trust_cache: bool = Field(
        True, description="skip re-hashing local copies unchanged (size, mtime) since they were verified"
    )

    @model_validator(mode="after")
    def _unique_names(self) -> Manifest:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; rename {dupes}")
        return self

    @classmethod
    def from_yaml(cls, text: str) -> Manifest:
        """Parse and validate YAML text; errors name the key path and the fix."""
        from reefdask.config import load_config

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(
                f"The manifest is not valid YAML: {err}. Fix the syntax at the place shown."
            ) from err
        if not isinstance(data, dict):
            raise ConfigError("A manifest must be a YAML mapping with `destination` and `sources`.")
        return load_config(data, cls)


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest YAML file (local path or fsspec URL)."""
    from reefdask.config import load_config

    try:
        return load_config(str(path), Manifest)
    except InputNotFoundError:
        raise InputNotFoundError(
            f"Manifest {path} does not exist; pass the path of a manifest YAML."
        ) from None
