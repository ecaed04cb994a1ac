"""Parsing and validation of class-schema entries (used by :mod:`reefdask.core.classes`).

Every problem raises :class:`~reefdask.errors.SchemaError` naming the class, its level
and the fix.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from reefdask.errors import SchemaError

__all__ = ["MAX_CODE", "ClassEntry", "parse_entry", "validate_schema"]

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_ENTRY_KEYS = {"code", "name", "color"}
MAX_CODE = 254


@dataclass(frozen=True)
class ClassEntry:
    """One class of one level; ``group`` is its class name in the next level (None: nodata)."""

    code: int
    name: str
    color: str
    group: str | None = None


def parse_entry(level: str, e: Any, nxt: str | None) -> ClassEntry:
    """Build one class of ``level`` from its mapping; ``nxt`` names the next level (its group key)."""
    where = f"class {e!r} of level {level!r}"
    if not isinstance(e, dict):
        raise SchemaError(f"{where} must be a mapping like {{code: 1, name: land, color: '#a0845c'}}.")
    allowed = _ENTRY_KEYS | ({nxt} if nxt else set())
    unknown = set(e) - allowed
    if unknown:
        raise SchemaError(f"{where} has unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}.")
    if nxt is not None and nxt not in e:
        raise SchemaError(
            f"{where} does not say its group in the next level: add '{nxt}: <name>' (or null for nodata)."
        )
    for key in ("code", "name"):
        if key not in e:
            raise SchemaError(f"{where} lacks '{key}'; every class needs code, name and color.")
    code = e["code"]
    if isinstance(code, bool) or not isinstance(code, int):
        raise SchemaError(f"{where}: code {code!r} is not an integer; use an integer in 0..{MAX_CODE}.")
    group = e.get(nxt) if nxt else None
    return ClassEntry(
        code=code,
        name=str(e["name"]),
        color=str(e.get("color", "#808080")),
        group=None if group is None else str(group),
    )


def validate_schema(levels: tuple[tuple[str, tuple[ClassEntry, ...]], ...], nodata: Any) -> None:
    """Check codes, names, colours, mappings and ``nodata`` of a whole schema's ``levels``.

    ``levels`` is :attr:`ClassSchema.levels_ <reefdask.core.classes.ClassSchema>`: each level's
    name with its entries, finest first (taken apart so this module does not import the class).
    """
    seen_levels: set[str] = set()
    for lvl, entries in levels:
        if lvl in seen_levels:
            raise SchemaError(f"Level {lvl!r} is declared twice; give each level one unique name.")
        seen_levels.add(lvl)
        _validate_level(lvl, entries)
    for (lvl, entries), (nxt, nxt_entries) in itertools.pairwise(levels):
        targets = {n.name for n in nxt_entries}
        for e in entries:
            if e.group is not None and e.group not in targets:
                raise SchemaError(
                    f"class {e.name!r} (code {e.code}) of level {lvl!r} maps to {nxt} group {e.group!r}, "
                    f"which is not declared; use one of {sorted(targets)} or null for nodata."
                )
    all_codes = {e.code for _, entries in levels for e in entries}
    if (
        isinstance(nodata, bool)
        or not isinstance(nodata, int)
        or not 0 <= nodata <= 255
        or nodata in all_codes
    ):
        raise SchemaError(
            f"Schema nodata {nodata!r} must be an integer in 0..255 that is no class code; use 255."
        )


def _validate_level(lvl: str, entries: tuple[ClassEntry, ...]) -> None:
    codes: dict[int, str] = {}
    names: set[str] = set()
    for e in entries:
        where = f"class {e.name!r} (code {e.code}) of level {lvl!r}"
        if not 0 <= e.code <= MAX_CODE:
            raise SchemaError(
                f"{where}: code outside 0..{MAX_CODE} (255 is reserved for nodata); renumber it."
            )
        if e.code in codes:
            raise SchemaError(
                f"{where}: code {e.code} is already used by {codes[e.code]!r}; give each class a unique code."
            )
        if e.name in names:
            raise SchemaError(f"{where}: the name is used twice at this level; rename one.")
        if not _COLOR.match(e.color):
            raise SchemaError(f"{where}: colour {e.color!r} is not '#rrggbb'; write it like '#a0845c'.")
        codes[e.code] = e.name
        names.add(e.name)
