"""Typed pipeline configurations, loaded from YAML and refused early when wrong.

Every stage declares a :class:`StageConfig` subclass; :func:`load_config` reads YAML from
any URL, and turns pydantic's errors into one :class:`~reefdask.errors.ConfigError` that
names each bad key by its path and says how to fix it. :func:`load_schema` reads the other
YAML document a user writes, a class schema. Both read through :mod:`reefdask.io`, so this
module sits above it (the core domain types take text or mappings, never URLs).

Examples
--------
>>> cfg = load_config({"outdir": "scenes", "quads": 4}, SynthConfig)
>>> cfg.quads, cfg.size
(4, 512)
>>> load_config({"outdir": "scenes", "quad": 4}, SynthConfig)
Traceback (most recent call last):
...
reefdask.errors.ConfigError: SynthConfig from <dict> is invalid:
  - quad: unknown key; did you mean 'quads'? Valid keys: outdir, quads, seed, size, region, origin
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reefdask.errors import ConfigError, InputNotFoundError

if TYPE_CHECKING:
    from reefdask.core.classes import ClassSchema

__all__ = ["StageConfig", "SynthConfig", "IngestConfig", "load_config", "load_schema", "config_hash"]

T = TypeVar("T", bound=BaseModel)


class StageConfig(BaseModel):
    """Base of every stage configuration: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def hash(self) -> str:
        """A short, stable hash of the configuration's values."""
        return config_hash(self)


class SynthConfig(StageConfig):
    """Synthetic quads to write (``reefdask synth``)."""

    outdir: str = Field(description="Folder (or URL) that receives imagery/ and labels/.")
    quads: int = Field(4, ge=1, le=4096, description="How many quads, as a compact block.")
    seed: int = Field(0, description="Seed: the same seed gives the same bytes.")
    size: int = Field(512, ge=16, le=4096, description="Pixels per quad side (4096 = full resolution).")
    region: str = Field("belize", description="Region folder name, as the providers name them.")
    origin: str | None = Field(None, description="Quad id of the block's north-west quad.")


class IngestConfig(StageConfig):
    """Rasters to ingest into a Zarr cube (``reefdask ingest``)."""

    sources: list[str] = Field(min_length=1, description="Raster paths/URLs or glob patterns.")
    store: str = Field(description="Zarr store URL that receives one group per scene.")
    chunk: int = Field(1024, ge=64, description="Chunk side in pixels (multiple of 64).")
    overwrite: bool = Field(False, description="Re-ingest scenes already complete.")


def load_config(source: str | Path | dict[str, Any], model: type[T]) -> T:
    """Load and validate a configuration from a YAML file/URL or a mapping.

    Raises
    ------
    ConfigError
        For unreadable YAML, unknown keys (with the closest valid key) and wrong types,
        each named by its dotted path.
    """
    where = "<dict>"
    if isinstance(source, dict):
        data: Any = source
    else:
        from reefdask.io.storage import read_bytes

        where = str(source)
        try:
            data = yaml.safe_load(read_bytes(where)) or {}
        except yaml.YAMLError as err:
            hint = "Fix the syntax at the place shown."
            raise ConfigError(f"{where} is not valid YAML: {err}. {hint}") from err
        if not isinstance(data, dict):
            raise ConfigError(f"{where} must hold a mapping of keys to values, not {type(data).__name__}.")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        lines = [_describe(e, model) for e in err.errors()]
        raise ConfigError(f"{model.__name__} from {where} is invalid:\n" + "\n".join(lines)) from None


def _describe(error: Any, model: type[BaseModel]) -> str:
    loc = [str(p) for p in error["loc"]]
    path = ".".join(loc) or "<root>"
    if error["type"] == "extra_forbidden":
        valid = _keys_at(model, loc[:-1])
        close = difflib.get_close_matches(loc[-1], valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"  - {path}: unknown key; {hint}Valid keys: {', '.join(valid)}"
    if error["type"] == "missing":
        return f"  - {path}: required key is missing; add it"
    return f"  - {path}: {error['msg']} (got {error.get('input')!r})"


def _keys_at(model: type[BaseModel], loc: list[str]) -> list[str]:
    current: Any = model
    for part in loc:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = field.annotation
    return list(getattr(current, "model_fields", {}))


def config_hash(config: BaseModel | dict[str, Any]) -> str:
    """Sixteen hex digits of the SHA-256 of the configuration's canonical JSON."""
    data = config.model_dump(mode="json") if isinstance(config, BaseModel) else config
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_schema(path_or_url: Any) -> ClassSchema:
    """Load a class schema from a YAML path or fsspec URL, ``"default"``, a dict, or a schema (kept).

    Raises
    ------
    InputNotFoundError
        When the path or URL does not exist.
    SchemaError
        When the YAML does not declare a valid schema.
    """
    from reefdask.core.classes import ClassSchema, default_schema
    from reefdask.io.storage import exists, read_bytes

    if isinstance(path_or_url, ClassSchema):
        return path_or_url
    if isinstance(path_or_url, dict):
        return ClassSchema.from_dict(path_or_url)
    if str(path_or_url) == "default":
        return default_schema()
    url = str(path_or_url)
    if not exists(url):
        raise InputNotFoundError(
            f"Class schema {url!r} does not exist; pass a YAML file path or URL, or 'default'."
        )
    return ClassSchema.from_yaml(read_bytes(url).decode())
