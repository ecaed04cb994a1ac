"""Stratified random samples of a class map, for labelling, and their reading back.

:func:`stratified_sample` draws sample pixels by map class (the strata), out of core:
per-block class counts first, then each stratum's sample size split across blocks
with a multivariate hypergeometric draw and drawn without replacement inside each
block, which is exactly a simple random sample of each stratum. Allocations:

* ``proportional``: ``n_h`` proportional to the stratum's pixels;
* ``equal``: the same ``n_h`` for every stratum;
* ``olofsson``: every stratum gets at least ``minimum`` (Olofsson et al. 2014 advise
  50-100 for rare classes), the rest in proportion to area.

:func:`write_samples` exports CSV or GeoJSON with an empty ``reference`` column to fill
in, plus the design (strata, mapped areas) beside it; :func:`read_samples` reads a
labelled file back and :func:`accuracy_from_samples` feeds the estimator.

Examples
--------
>>> allocate([9000, 900, 100], 100, "proportional").tolist()
[90, 9, 1]
>>> allocate([9000, 900, 100], 100, "olofsson", minimum=20).tolist()
[60, 20, 20]
>>> allocate([9000, 900, 100], 100, "equal").tolist()
[34, 33, 33]
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reefdask.errors import ConfigError, InputNotFoundError, ReefdaskError

__all__ = [
    "SampleDesign",
    "allocate",
    "stratified_sample",
    "write_samples",
    "read_samples",
    "accuracy_from_samples",
]

ALLOCATIONS = ("proportional", "equal", "olofsson")


def _round_to(target: np.ndarray, total: int, cap: np.ndarray) -> np.ndarray:
    """Largest-remainder rounding of ``target`` to integers summing to ``total`` under ``cap``."""
    out = np.minimum(np.floor(target).astype(np.int64), cap)
    order = np.argsort(-(target - np.floor(target)), kind="stable")
    while out.sum() < total and (out < cap).any():
        for i in order:
            if out.sum() >= total:
                break
            if out[i] < cap[i]:
                out[i] += 1
    return out


def allocate(
    pixels: Sequence[int], n: int, allocation: str = "proportional", minimum: int = 50
) -> np.ndarray:
    """Sample size per stratum (never more than its pixels; sums to ``n`` when possible)."""
    cap = np.asarray(pixels, dtype=np.int64)
    if allocation not in ALLOCATIONS:
        raise ConfigError(f"allocation {allocation!r} is unknown; use one of {ALLOCATIONS}.")
    n = int(min(n, cap.sum()))
    live = cap > 0
    if allocation == "equal":
        return _round_to(np.where(live, n / max(live.sum(), 1), 0.0), n, cap)
    share = cap / cap.sum()
    if allocation == "proportional":
        return _round_to(share * n, n, cap)
    fixed = np.zeros(len(cap), dtype=bool)  # olofsson: strata held at their minimum
    floor = np.minimum(cap, minimum)
    while True:
        rest = n - floor[fixed].sum()
        free = live & ~fixed
        target = np.where(fixed, floor, 0.0) + np.where(free, rest * cap / max(cap[free].sum(), 1), 0.0)
        low = free & (target < floor)
        if not low.any():
            return _round_to(target, n, cap)
        fixed |= low


@dataclass(frozen=True)
class SampleDesign:
    """A drawn sample: its rows and the strata it represents."""

    samples: list[dict[str, Any]]
    strata: tuple[int, ...]
    pixels: tuple[int, ...]
    area_km2: tuple[float, ...]
    allocation: str
    seed: int
    crs: str

    def design(self) -> dict[str, Any]:
        """The design without the samples (stored beside the sample file)."""
        return {
            "strata": list(self.strata),
            "pixels": list(self.pixels),
            "area_km2": list(self.area_km2),
            "allocation": self.allocation,
            "seed": self.seed,
            "crs": self.crs,
            "n": len(self.samples),
        }


def stratified_sample(
    classes: Any,
    n: int,
    strata: Sequence[int],
    *,
    allocation: str = "proportional",
    minimum: int = 50,
    seed: int = 0,
) -> SampleDesign:
    """Draw a stratified random sample of pixel centres from a georeferenced class map.

    ``classes`` is a rioxarray DataArray ``(y, x)`` (NumPy or Dask backed) or the path
    of a single-band class raster; pixels whose value is not in ``strata`` are never drawn.
    """
    import dask
    import dask.array as dsa
    from pyproj import Transformer

    from reefdask.calval.area import PixelAreas
    from reefdask.calval.confusion import confusion

    if isinstance(classes, str | Path):
        from reefdask.io.rasters import open_imagery

        classes = open_imagery(str(classes), alpha=False).isel(band=0, drop=True)
    codes = tuple(int(c) for c in strata)
    arr = dsa.asarray(classes.data)
    counts = arr.map_blocks(_block_counts, codes, dtype=np.int64, chunks=(1, 1, len(codes)), new_axis=2)
    per_block = np.asarray(counts.compute())  # (by, bx, H): tiny
    areas = PixelAreas.of(classes)
    cm = confusion(classes, classes, codes, areas=areas)
    pixels = per_block.sum(axis=(0, 1))
    sizes = allocate(pixels, n, allocation, minimum)
    rng = np.random.default_rng(seed)
    flat = per_block.reshape(-1, len(codes))
    split = np.stack(
        [rng.multivariate_hypergeometric(flat[:, h], int(sizes[h])) for h in range(len(codes))], axis=1
    )  # (blocks, H)
    offsets = [np.cumsum((0, *c[:-1])) for c in arr.chunks]
    needed = [b for b in range(len(flat)) if split[b].any()]
    seeds = rng.integers(0, 2**63 - 1, size=max(len(needed), 1))
    tasks = []
    for k, b in enumerate(needed):
        by, bx = divmod(b, arr.numblocks[1])
        tasks.append(dask.delayed(_draw)(arr.blocks[by, bx], codes, split[b], int(seeds[k]), by, bx))
    drawn = [row for part in dask.compute(*tasks) for row in part]
    t = classes.rio.transform()
    to_lonlat = Transformer.from_crs(classes.rio.crs, "EPSG:4326", always_xy=True)
    rows = []
    for by, bx, r, c, code in sorted(drawn):
        row, col = int(offsets[0][by] + r), int(offsets[1][bx] + c)
        x, y = t.c + t.a * (col + 0.5), t.f + t.e * (row + 0.5)
        lon, lat = to_lonlat.transform(x, y)
        rows.append({"row": row, "col": col, "x": x, "y": y, "lon": lon, "lat": lat, "map_class": code})
    order = rng.permutation(len(rows))  # labellers should not see the strata in order
    samples = [{"id": i, **rows[j], "reference": None} for i, j in enumerate(order)]
    return SampleDesign(
        samples=samples,
        strata=codes,
        pixels=tuple(int(v) for v in pixels),
        area_km2=tuple(float(v) for v in np.diag(cm.area)),  # type: ignore[arg-type]
        allocation=allocation,
        seed=seed,
        crs=str(classes.rio.crs),
    )


def _block_counts(block: np.ndarray, codes: tuple[int, ...]) -> np.ndarray:
    return np.array([(block == c).sum() for c in codes], dtype=np.int64)[None, None]


def _draw(block: np.ndarray, codes: tuple[int, ...], sizes: np.ndarray, seed: int, by: int, bx: int) -> list:
    rng = np.random.default_rng(seed)
    out = []
    flat = np.asarray(block).ravel()
    w = block.shape[1]
    for code, k in zip(codes, sizes, strict=True):
        if k:
            where = np.flatnonzero(flat == code)
            for p in np.sort(rng.choice(where, size=int(k), replace=False)):
                out.append((by, bx, int(p // w), int(p % w), code))
    return out


_FIELDS = ("id", "lon", "lat", "x", "y", "row", "col", "map_class", "reference")


def _design_path(path: Path) -> Path:
    return path.with_name(path.stem + ".design.json")


def write_samples(design: SampleDesign, path: str | Path) -> Path:
    """Write ``.csv`` or ``.geojson`` samples and ``<stem>.design.json`` beside them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=_FIELDS)
            writer.writeheader()
            for s in design.samples:
                writer.writerow({k: ("" if s[k] is None else s[k]) for k in _FIELDS})
    elif path.suffix.lower() in (".geojson", ".json"):
        feats = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
                "properties": {k: s[k] for k in _FIELDS if k not in ("lon", "lat")},
            }
            for s in design.samples
        ]
        path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    else:
        raise ConfigError(f"Sample file {path} must end in .csv or .geojson.")
    _design_path(path).write_text(json.dumps(design.design(), indent=2))
    return path


def read_samples(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``(map_class, reference, design)`` of a labelled sample file (CSV or GeoJSON)."""
    path = Path(path)
    if not path.exists() or not _design_path(path).exists():
        raise InputNotFoundError(
            f"{path} or its design {_design_path(path).name} is missing; keep both together."
        )
    if path.suffix.lower() == ".csv":
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    else:
        rows = [f["properties"] for f in json.loads(path.read_text())["features"]]
    unlabelled = [r["id"] for r in rows if r.get("reference") in (None, "")]
    if unlabelled:
        raise ReefdaskError(
            f"{len(unlabelled)} samples in {path} have no reference label (ids {unlabelled[:5]}...); "
            "fill in the 'reference' column with class codes."
        )
    mapped = np.array([int(r["map_class"]) for r in rows], dtype=np.int64)
    ref = np.array([int(float(r["reference"])) for r in rows], dtype=np.int64)
    return mapped, ref, json.loads(_design_path(path).read_text())


def accuracy_from_samples(path: str | Path, confidence: float = 0.95) -> Any:
    """Olofsson estimates (areas in km²) from a labelled sample file and its design."""
    from reefdask.calval.stratified import stratified_accuracy

    mapped, ref, design = read_samples(path)
    codes = list(design["strata"])
    extra = sorted(set(ref.tolist()) - set(codes))
    codes += extra  # reference classes that were never mapped: zero-area strata
    index = {c: i for i, c in enumerate(codes)}
    counts = np.zeros((len(codes), len(codes)), dtype=np.int64)
    np.add.at(counts, ([index[m] for m in mapped], [index[r] for r in ref]), 1)
    areas = list(design["area_km2"]) + [0.0] * len(extra)
    return stratified_accuracy(counts, areas, confidence, labels=codes)
