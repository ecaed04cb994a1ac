"""Quad inventories: which quads exist under a prefix, where, and who their neighbours are.

A provider mosaic is laid out ``<prefix>/<region>/L15-XXXXE-YYYYN.tif``; a quad that sits
under several region folders is **one** quad with several locations. The inventory
keeps, per quad: its id, column, row and level, every location (URL) and region, the
size of its first location, and the ids of its (up to) 8 neighbours that exist in the
inventory. Later stages (sampling, the global run) read it with :func:`load_inventory`.

Written as Parquet (``.parquet``) or CSV (``.csv``; list columns joined with ``;``),
with a JSON summary beside it (``<file>.summary.json``).

Examples
--------
>>> inv = Inventory.from_paths({"gs://b/m/belize/L15-0525E-1122N.tif": 10,
...                             "gs://b/m/atoll/L15-0525E-1122N.tif": 10,
...                             "gs://b/m/belize/L15-0526E-1122N.tif": 12})
>>> for r in inv.records:
...     print(r.id, r.regions, r.neighbours)
L15-0525E-1122N ['atoll', 'belize'] ['L15-0526E-1122N']
L15-0526E-1122N ['belize'] ['L15-0525E-1122N']
>>> inv.summary()["quads_in_several_regions"]
1
"""

from __future__ import annotations

import json
import posixpath
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from reefdask.core.grid import Quad
from reefdask.errors import ConfigError, InputNotFoundError, QuadIdError
from reefdask.io.storage import filesystem
from reefdask.io.store import is_temporary, open_store, store_for

__all__ = ["QuadRecord", "Inventory", "build_inventory", "load_inventory"]

_COLUMNS = ["id", "x", "y", "level", "n_locations", "locations", "regions", "neighbours", "size"]


@dataclass
class QuadRecord:
    """One quad of an inventory."""

    quad: Quad
    locations: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    neighbours: list[str] = field(default_factory=list)
    size: int | None = None

    @property
    def id(self) -> str:
        """The quad id."""
        return self.quad.id


@dataclass
class Inventory:
    """Quads found under a prefix (sorted by id), plus files that were not quads."""

    records: list[QuadRecord]
    root: str = ""
    ignored: list[str] = field(default_factory=list)

    @classmethod
    def from_paths(cls, paths: dict[str, int | None], root: str = "") -> Inventory:
        """Group ``{url: size}`` by quad id; region = folder relative to ``root``."""
        by_id: dict[Quad, QuadRecord] = {}
        ignored = []
        for url in sorted(paths):
            try:
                quad = Quad.parse(url)
            except QuadIdError:
                ignored.append(url)
                continue
            rel = posixpath.relpath(url, root) if root else url
            region = (
                posixpath.basename(posixpath.dirname(rel))
                if root
                else posixpath.basename(posixpath.dirname(url))
            )
            rec = by_id.setdefault(quad, QuadRecord(quad, size=paths[url]))
            rec.locations.append(url)
            if region not in rec.regions:
                rec.regions.append(region)
        for rec in by_id.values():
            rec.regions.sort()
            rec.neighbours = sorted(n.id for n in rec.quad.neighbours() if n in by_id)
        return cls(sorted(by_id.values(), key=lambda r: r.id), root=root, ignored=ignored)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, quad_id: str) -> QuadRecord:
        for r in self.records:
            if r.id == quad_id:
                return r
        raise KeyError(quad_id)

    @property
    def ids(self) -> list[str]:
        """Quad ids, sorted."""
        return [r.id for r in self.records]

    def summary(self) -> dict[str, Any]:
        """Counts for people and machines."""
        regions = Counter(reg for r in self.records for reg in r.regions)
        return {
            "root": self.root,
            "quads": len(self.records),
            "files": sum(len(r.locations) for r in self.records),
            "quads_in_several_regions": sum(len(r.regions) > 1 for r in self.records),
            "regions": dict(sorted(regions.items())),
            "ignored_files": len(self.ignored),
        }

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per quad (list columns stay lists)."""
        import pandas as pd

        rows = [
            {
                "id": r.id, "x": r.quad.x, "y": r.quad.y, "level": r.quad.level,
                "n_locations": len(r.locations), "locations": r.locations, "regions": r.regions,
                "neighbours": r.neighbours, "size": r.size,
            }
            for r in self.records
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=_COLUMNS)

    def write(self, url: str) -> str:
        """Write Parquet or CSV (by extension) and ``<url>.summary.json``; returns ``url``."""
        import io

        frame = self.to_frame()
        buf = io.BytesIO()
        if url.endswith(".parquet"):
            frame.to_parquet(buf, index=False)
        elif url.endswith(".csv"):
            for col in ("locations", "regions", "neighbours"):
                frame[col] = frame[col].map(";".join)
            frame.to_csv(buf, index=False)
        else:
            raise ConfigError(f"Inventory file {url!r} must end in .parquet or .csv; rename it.")
        store, key = store_for(url)
        store.publish(key, buf.getvalue())
        store.publish(f"{key}.summary.json", json.dumps(self.summary(), indent=2).encode())
        return url


def build_inventory(
    url: str, *, pattern: str = "**/*.tif", storage_options: dict[str, Any] | None = None
) -> Inventory:
    """List ``pattern`` under ``url`` (local, ``gs://``, any listable fsspec URL) into an inventory."""
    store = open_store(url, storage_options)
    fs, root = store.fs, store.fs._strip_protocol(store.url_for()).rstrip("/")
    fs.invalidate_cache(root)
    if not store.exists(""):
        raise InputNotFoundError(f"{url} does not exist; check the prefix (and credentials for buckets).")
    found = fs.glob(posixpath.join(root, pattern), detail=True)
    paths = {  # published objects only: temporaries are never quads
        store.url_for(p[len(root) + 1 :]): info.get("size")
        for p, info in found.items()
        if info.get("type", "file") == "file" and not is_temporary(p)
    }
    return Inventory.from_paths(paths, root=store.url_for())


def load_inventory(url: str, storage_options: dict[str, Any] | None = None) -> Inventory:
    """Read an inventory written by :meth:`Inventory.write` (Parquet or CSV)."""
    import pandas as pd

    fs, path = filesystem(url, storage_options)
    if not fs.exists(path):
        raise InputNotFoundError(f"Inventory {url} does not exist; make it with `reefdask inventory`.")
    with fs.open(path, "rb") as f:
        frame = pd.read_parquet(f) if url.endswith(".parquet") else pd.read_csv(f, keep_default_na=False)
    records = []
    for row in frame.to_dict("records"):

        def _list(v: Any) -> list[str]:
            if isinstance(v, str):
                return [s for s in v.split(";") if s] if v else []
            return [str(s) for s in v]

        size = row.get("size")
        records.append(
            QuadRecord(
                Quad(int(row["x"]), int(row["y"]), int(row["level"])),
                locations=_list(row["locations"]),
                regions=_list(row["regions"]),
                neighbours=_list(row["neighbours"]),
                size=None if size in (None, "") or size != size else int(size),
            )
        )
    return Inventory(records)
