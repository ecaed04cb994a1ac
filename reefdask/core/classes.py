"""Class schemas: codes, names, colours and mappings, declared once in YAML.

A schema lists its levels from finest to coarsest (the default: ``detailed`` ->
``coarse`` -> ``reef``). Each class of a level names its group in the next level under
that level's name; ``null`` sends it to nodata there. The first level is the one models
predict: softmax channel ``i`` is ``schema.codes[i]``. Schemas travel with models and
outputs as YAML or dicts, identified by a short :attr:`ClassSchema.fingerprint`.
Core takes text or mappings; :func:`reefdask.config.load_schema` reads one from a path or URL.

A new schema is a short YAML::

    name: reef-or-not
    levels:
      detailed:
        - {code: 1, name: water, color: "#1f4e8c", reef: not reef}
        - {code: 2, name: coral, color: "#ff7f50", reef: reef}
      reef:
        - {code: 0, name: not reef, color: "#000000"}
        - {code: 1, name: reef, color: "#ffffff"}

Examples
--------
>>> import numpy as np
>>> s = default_schema()
>>> s.n_classes, s.levels
(14, ('detailed', 'coarse', 'reef'))
>>> s.level_names("coarse")
('land', 'water', 'reef', 'non-reef', 'cloud')
>>> s.remap(np.array([[1, 4, 14, -9999]], dtype="int16"), "reef").tolist()
[[0, 1, 255, 255]]
>>> s.group_matrix("coarse").shape
(5, 14)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any

import numpy as np

from reefdask.core.lut import apply_lut, index_lut
from reefdask.core.schema_checks import ClassEntry, parse_entry, validate_schema
from reefdask.errors import SchemaError

__all__ = ["ClassEntry", "ClassSchema", "default_schema"]


@dataclass(frozen=True)
class ClassSchema:
    """Classes at each level and the mappings between them (build with :meth:`from_dict`)."""

    name: str
    levels_: tuple[tuple[str, tuple[ClassEntry, ...]], ...]
    description: str = ""
    nodata: int = 255

    def __post_init__(self) -> None:
        validate_schema(self.levels_, self.nodata)

    # -- construction / serialisation ------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassSchema:
        """Build a schema from its dict form (as written by :meth:`to_dict`)."""
        if not isinstance(d, dict) or not isinstance(d.get("levels"), dict) or not d["levels"]:
            raise SchemaError(
                "A class schema needs a 'levels' mapping of level name -> list of classes, "
                "finest level first; see reefdask/data/classes/default.yaml for an example."
            )
        unknown = set(d) - {"name", "description", "nodata", "levels"}
        if unknown:
            raise SchemaError(
                f"Unknown schema keys {sorted(unknown)}; allowed: name, description, nodata, levels."
            )
        names = list(d["levels"])
        levels = []
        for i, lvl in enumerate(names):
            nxt = names[i + 1] if i + 1 < len(names) else None
            entries = d["levels"][lvl]
            if not isinstance(entries, list) or not entries:
                raise SchemaError(
                    f"Level {lvl!r} must be a non-empty list of classes like {{code: 1, name: x}}."
                )
            levels.append((str(lvl), tuple(parse_entry(lvl, e, nxt) for e in entries)))
        return cls(
            name=str(d.get("name", "unnamed")),
            levels_=tuple(levels),
            description=str(d.get("description", "") or ""),
            nodata=d.get("nodata", 255),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON- and YAML-friendly dict form (round-trips through :meth:`from_dict`)."""
        levels: dict[str, list[dict[str, Any]]] = {}
        for i, (lvl, entries) in enumerate(self.levels_):
            nxt = self.levels[i + 1] if i + 1 < len(self.levels) else None
            rows = []
            for e in entries:
                row: dict[str, Any] = {"code": e.code, "name": e.name, "color": e.color}
                if nxt is not None:
                    row[nxt] = e.group
                rows.append(row)
            levels[lvl] = rows
        return {"name": self.name, "description": self.description, "nodata": self.nodata, "levels": levels}

    @classmethod
    def from_yaml(cls, text: str) -> ClassSchema:
        """Parse a schema from YAML text."""
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise SchemaError(f"Class schema is not valid YAML ({err}); fix the syntax.") from err
        return cls.from_dict(data)

    def to_yaml(self) -> str:
        """Render the schema as YAML text, one flow-style line per class."""
        d = self.to_dict()
        head = {k: d[k] for k in ("name", "description", "nodata")}
        lines = [f"{k}: {json.dumps(v)}" for k, v in head.items()] + ["levels:"]
        for lvl, rows in d["levels"].items():
            lines.append(f"  {json.dumps(lvl)}:")
            lines += [f"    - {json.dumps(r, ensure_ascii=False)}" for r in rows]
        return "\n".join(lines) + "\n"  # JSON flow mappings are valid YAML

    @cached_property
    def fingerprint(self) -> str:
        """Short sha256 hex of the canonical JSON of :meth:`to_dict` (description excluded)."""
        d = self.to_dict()
        d.pop("description")
        blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    # -- lookups ---------------------------------------------------------------
    @property
    def levels(self) -> tuple[str, ...]:
        """Level names, finest first."""
        return tuple(lvl for lvl, _ in self.levels_)

    def entries(self, level: str | None = None) -> tuple[ClassEntry, ...]:
        """Return the classes of ``level`` (default: the detailed level)."""
        if level is None:
            return self.levels_[0][1]
        for lvl, entries in self.levels_:
            if lvl == level:
                return entries
        raise SchemaError(
            f"Unknown class level {level!r}; schema {self.name!r} has levels {list(self.levels)}."
        )

    @property
    def codes(self) -> tuple[int, ...]:
        """Detailed codes in model-channel order."""
        return self.level_codes(self.levels[0])

    @property
    def names(self) -> tuple[str, ...]:
        """Detailed class names in model-channel order."""
        return self.level_names(self.levels[0])

    @property
    def colors(self) -> tuple[str, ...]:
        """Detailed class colours (``#rrggbb``) in model-channel order."""
        return self.level_colors(self.levels[0])

    @property
    def n_classes(self) -> int:
        """Number of detailed classes (= model output channels)."""
        return len(self.codes)

    @cached_property
    def index_of_code(self) -> dict[int, int]:
        """Detailed code -> model channel index."""
        return {c: i for i, c in enumerate(self.codes)}

    def level_codes(self, level: str) -> tuple[int, ...]:
        """Codes of ``level`` in declaration order."""
        return tuple(e.code for e in self.entries(level))

    def level_names(self, level: str) -> tuple[str, ...]:
        """Names of ``level`` in declaration order."""
        return tuple(e.name for e in self.entries(level))

    def level_colors(self, level: str) -> tuple[str, ...]:
        """Colours of ``level`` in declaration order."""
        return tuple(e.color for e in self.entries(level))

    def code_of(self, name: str, level: str | None = None) -> int:
        """Return the code of class ``name`` at ``level`` (default: detailed)."""
        for e in self.entries(level):
            if e.name == name:
                return e.code
        raise SchemaError(
            f"No class named {name!r} at level {level or self.levels[0]!r}; "
            f"use one of {list(self.level_names(level or self.levels[0]))}."
        )

    def colormap(self, level: str | None = None) -> dict[int, tuple[int, int, int, int]]:
        """``{code: (r, g, b, 255)}`` for ``rasterio``'s ``write_colormap``."""
        rgb = {e.code: tuple(int(e.color[i : i + 2], 16) for i in (1, 3, 5)) for e in self.entries(level)}
        return {code: (r, g, b, 255) for code, (r, g, b) in rgb.items()}

    # -- mappings --------------------------------------------------------------
    def lut(self, level: str, nodata: int | None = None, from_level: str | None = None) -> np.ndarray:
        """Lookup table: index = code at ``from_level`` (default detailed), value = code at ``level``.

        Length 256; undeclared codes and classes mapped to nothing hold ``nodata``
        (default: the schema's, 255). dtype: the smallest of uint8, int16, int32 holding ``nodata``.
        """
        nodata = self.nodata if nodata is None else int(nodata)
        src = self.levels[0] if from_level is None else from_level
        i0, i1 = self._level_index(src), self._level_index(level)
        if i1 < i0:
            raise SchemaError(
                f"Cannot map the coarser level {src!r} to the finer level {level!r}; "
                f"map towards coarser levels in {list(self.levels)}."
            )
        dtype = np.uint8 if 0 <= nodata <= 255 else (np.int16 if -32768 <= nodata <= 32767 else np.int32)
        out = np.full(256, nodata, dtype=dtype)
        for e in self.entries(src):
            name: str | None = e.name
            for k in range(i0, i1):
                name = None if name is None else self._group_of(k, name)
            if name is not None:
                out[e.code] = self.code_of(name, level)
        return out

    def remap(
        self,
        array: Any,
        level: str,
        nodata: int | None = None,
        *,
        from_level: str | None = None,
        src_nodata: float | None = None,
    ) -> Any:
        """Map a NumPy or Dask array of codes to ``level``; nodata stays nodata.

        Any value that is not a declared code (-9999, 255, NaN, ...) and ``src_nodata``
        become ``nodata`` (default: the schema's, 255). Dask arrays stay lazy.
        """
        table = self.lut(level, nodata, from_level)
        if type(array).__module__.startswith("dask"):
            return array.map_blocks(apply_lut, table, src_nodata, dtype=table.dtype)
        return apply_lut(array, table, src_nodata)

    def channel_lut(self, nodata: int = 255) -> np.ndarray:
        """Lookup table (uint8, length 256): detailed code -> softmax channel index, ``nodata`` elsewhere.

        Apply it with :func:`reefdask.core.lut.apply_lut` (training labels do).
        """
        return index_lut(self.codes, nodata)

    def group_matrix(self, level: str) -> np.ndarray:
        """``(n_level, n_detailed)`` float32 0/1: ``M @ p`` sums detailed probabilities into groups."""
        table = self.lut(level, nodata=255)
        out_codes = self.level_codes(level)
        m = np.zeros((len(out_codes), self.n_classes), dtype="float32")
        for j, code in enumerate(self.codes):
            if table[code] != 255:
                m[out_codes.index(int(table[code])), j] = 1.0
        return m

    def _level_index(self, level: str) -> int:
        self.entries(level)  # raises for unknown levels
        return self.levels.index(level)

    def _group_of(self, k: int, name: str) -> str | None:
        return next(e.group for e in self.levels_[k][1] if e.name == name)


_DEFAULT: ClassSchema | None = None


def default_schema() -> ClassSchema:
    """Return the packaged 14-class reef schema (``reefdask/data/classes/default.yaml``)."""
    global _DEFAULT
    if _DEFAULT is None:
        text = resources.files("reefdask").joinpath("data/classes/default.yaml").read_text()
        _DEFAULT = ClassSchema.from_yaml(text)
    return _DEFAULT
