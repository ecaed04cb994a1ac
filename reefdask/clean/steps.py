"""The four clean steps as declarations: which scenes, which output, how to make one.

Each ``plan_<step>(cfg)`` lists ``(scene, job)`` pairs; a job is a zero-argument callable
that runs :func:`reefdask.clean.protocol.produce` for one scene. An output is up to date when
its tag equals the hash of the step's configuration *and* of its inputs' path, size and
mtime (imagery locations; the grid quad, vector layers and label rasters; a label quad and
its neighbours), so new or re-acquired inputs rebuild exactly what depends on them.
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reefdask.clean.config import CleanConfig
from reefdask.clean.protocol import TAG, SceneOutcome, produce, step_hash
from reefdask.config import config_hash, load_schema
from reefdask.core.grid import Quad
from reefdask.core.nodata import LABEL_NODATA
from reefdask.errors import ConfigError, QuadIdError

__all__ = ["STEPS", "plan_imagery", "plan_labels", "plan_boundaries", "plan_edges"]

Job = tuple[str, Callable[[], SceneOutcome]]


def _schema(cfg: CleanConfig) -> Any:
    from reefdask.core.classes import default_schema

    assert cfg.labels is not None
    return load_schema(cfg.labels.schema_path) if cfg.labels.schema_path else default_schema()


def _land_codes(cfg: CleanConfig, schema: Any) -> list[int]:
    assert cfg.labels is not None
    return [schema.code_of(name) for name in cfg.labels.land_classes]


def _quad_files(folder: str, what: str) -> dict[str, Path]:
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(
            f"{what} folder {folder} does not exist; run the step that makes it or fix the path."
        )
    out = {}
    for p in sorted(root.glob("*.tif")):
        try:
            out[Quad.parse(p.name).id] = p
        except QuadIdError:
            continue
    return out


def _write(part: Path, array: np.ndarray, like: Path, *, nodata: float | None, tag: str) -> None:
    import rasterio

    from reefdask.clean.imagery import gtiff_profile

    with rasterio.open(like) as ds:
        crs, transform = ds.crs, ds.transform
    h, w = array.shape
    profile = gtiff_profile(w, h, 1, array.dtype.name, crs, transform, nodata)
    with rasterio.open(part, "w", **profile) as dst:
        dst.write(array, 1)
        dst.update_tags(**{TAG: tag})


def _stamp(paths: list[Path | str]) -> list[tuple[str, int, int]]:
    """What identifies the inputs of one output: path, size and mtime of each file."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((str(p), st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((str(p), -1, -1))
    return out


def _job(name: str, qid: str, out: Path, base: str, inputs: Callable[[], list[Any]],
         make: Callable[..., tuple[str, str]], ttl: float) -> SceneOutcome:  # fmt: skip
    """Hash the step's config with its inputs' stamps, then run the produce protocol."""
    expect = config_hash({"step": base, "inputs": _stamp(inputs())})
    return produce(name, qid, out, expect, functools.partial(make, tag=expect), ttl)


def _add(jobs: list[Job], cfg: CleanConfig, name: str, qid: str, out: Path, base: str,
         inputs: Callable[[], list[Any]], make: Callable[..., tuple[str, str]]) -> None:  # fmt: skip
    jobs.append((qid, functools.partial(_job, name, qid, out, base, inputs, make, cfg.claim_ttl)))


# -- imagery -----------------------------------------------------------------------------------
def plan_imagery(cfg: CleanConfig) -> list[Job]:
    """One job per quad of the imagery inputs (all its locations merged)."""
    from reefdask.acquire.inventory import build_inventory
    from reefdask.clean.imagery import clean_imagery

    step = cfg.imagery
    assert step is not None
    base = step_hash(cfg, "imagery")

    def make(locations: list[str], part: Path, *, tag: str) -> tuple[str, str]:
        facts = clean_imagery(locations, part, bands=step.bands, alpha=step.alpha, factor=step.factor,
                              resampling=cfg.resampling, tags={TAG: tag})  # fmt: skip
        return "made", f"valid {facts['valid_fraction']:.1%}"

    jobs: list[Job] = []
    for rec in build_inventory(step.inputs, pattern=step.pattern).records:
        locs = rec.locations
        _add(jobs, cfg, "imagery", rec.id, Path(step.output) / f"{rec.id}.tif", base,
             functools.partial(list, locs), functools.partial(make, locs))  # fmt: skip
    return jobs


# -- labels ------------------------------------------------------------------------------------
def plan_labels(cfg: CleanConfig) -> list[Job]:
    """One job per quad of the label grid folder."""
    from reefdask.clean.labels import Grid, build_labels, non_land_fraction, raster_paths_for

    step = cfg.labels
    assert step is not None and cfg.label_grid is not None
    schema = _schema(cfg)
    land = _land_codes(cfg, schema)
    base = step_hash(cfg, "labels", {"schema": schema.fingerprint})
    listings = {s.path: sorted(glob.glob(s.path, recursive=True)) for s in step.sources if s.kind == "raster"}
    vectors = [s.path for s in step.sources if s.kind == "vector"]

    def inputs(qid: str, grid_file: Path) -> list[Any]:
        grid = Grid.of(str(grid_file))
        rasters = [p for s in step.sources if s.kind == "raster"
                   for p in raster_paths_for(listings[s.path], qid, grid)]  # fmt: skip
        return [grid_file, *vectors, *rasters]

    def make(qid: str, grid_file: Path, part: Path, *, tag: str) -> tuple[str, str]:
        grid = Grid.of(str(grid_file))
        labels = build_labels(step.sources, grid, qid, schema, step.all_touched, listings)
        if (labels == LABEL_NODATA).all():
            return "empty", "no labels on this quad"
        frac = non_land_fraction(labels, land)
        if frac < step.min_non_land_fraction:
            return "dropped", f"almost only land: non-land {frac:.3%} < {step.min_non_land_fraction:.3%}"
        _write(part, labels, grid_file, nodata=LABEL_NODATA, tag=tag)
        return "made", f"non-land {frac:.1%}"

    jobs: list[Job] = []
    grid_folder = cfg.label_grid
    files = _quad_files(grid_folder, "Imagery output" if cfg.imagery else "Label grid")
    for qid, grid_file in files.items():
        _add(jobs, cfg, "labels", qid, Path(step.output) / f"{qid}.tif", base,
             functools.partial(inputs, qid, grid_file), functools.partial(make, qid, grid_file))  # fmt: skip
    return jobs


# -- boundaries and edges ----------------------------------------------------------------------
def _neighbourhood(label_file: Path) -> list[Path]:
    q = Quad.parse(label_file.name)
    return [label_file, *(label_file.with_name(f"{n.id}.tif") for n in q.neighbours())]


def _label_jobs(cfg: CleanConfig, name: str, make: Callable[..., tuple[str, str]], base: str) -> list[Job]:
    assert cfg.labels is not None
    part_cfg = getattr(cfg, name)
    jobs: list[Job] = []
    for qid, label_file in _quad_files(cfg.labels.output, "Labels output").items():
        out = Path(part_cfg.output) / f"{qid}.tif"
        nearby = functools.partial(_neighbourhood, label_file)
        _add(jobs, cfg, name, qid, out, base, nearby, functools.partial(make, qid, label_file))
    return jobs


def plan_boundaries(cfg: CleanConfig) -> list[Job]:
    """One sampling-boundary mask per label quad (neighbours lend a margin)."""
    import rasterio

    from reefdask.clean.boundaries import margin_pixels, sampling_boundary, with_margin

    step = cfg.boundaries
    assert step is not None and cfg.labels is not None
    schema = _schema(cfg)
    land = _land_codes(cfg, schema)
    base = step_hash(cfg, "boundaries", land)

    def make(qid: str, label_file: Path, part: Path, *, tag: str) -> tuple[str, str]:
        with rasterio.open(label_file) as ds:
            px = abs(ds.transform.a)
        m = margin_pixels(step.buffer_m, px)
        padded = with_margin(label_file, Quad.parse(qid), label_file.parent, m)
        mask = sampling_boundary(padded, land, px, step.buffer_m)
        mask = mask[m : mask.shape[0] - m, m : mask.shape[1] - m]
        _write(part, mask, label_file, nodata=None, tag=tag)
        return "made", f"inside {mask.mean():.1%}"

    return _label_jobs(cfg, "boundaries", make, base)


def plan_edges(cfg: CleanConfig) -> list[Job]:
    """Labels with edge classes, one per label quad."""
    from reefdask.clean.boundaries import with_margin
    from reefdask.clean.edges import edge_labels

    step = cfg.edges
    assert step is not None and cfg.labels is not None
    schema = _schema(cfg)
    codes = list(schema.level_codes(step.level))
    base = step_hash(cfg, "edges", schema.fingerprint)

    def make(qid: str, label_file: Path, part: Path, *, tag: str) -> tuple[str, str]:
        m = step.width_px // 2
        padded = with_margin(label_file, Quad.parse(qid), label_file.parent, m)
        groups = schema.remap(padded, step.level, nodata=LABEL_NODATA, src_nodata=LABEL_NODATA)
        out = edge_labels(padded, groups, codes, width_px=step.width_px, code_base=step.code_base)
        out = out[m : out.shape[0] - m, m : out.shape[1] - m]
        _write(part, out, label_file, nodata=LABEL_NODATA, tag=tag)
        return "made", f"edge pixels {(out > step.code_base).mean():.1%}"

    return _label_jobs(cfg, "edges", make, base)


STEPS: list[tuple[str, Callable[[CleanConfig], list[Job]]]] = [
    ("imagery", plan_imagery),
    ("labels", plan_labels),
    ("boundaries", plan_boundaries),
    ("edges", plan_edges),
]
