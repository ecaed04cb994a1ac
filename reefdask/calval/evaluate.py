"""Evaluate a predicted class map against a reference map, per site and pooled.

The evaluation grid is the prediction's (or the reference's when the prediction is a
vector layer, e.g. a baseline reef polygon layer). Per site (a polygon: its window of
the grid, masked by the polygon) reefdask counts the confusion matrix in pixels and in
km² of ground (:mod:`reefdask.calval.area`), derives per-class metrics, and at a level
with a positive class (``reef``) the TP/FP/FN/TN areas; across sites, unweighted and
reference-reef-area-weighted mean F1, precision and recall.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reefdask.calval.maps import MapSpec

__all__ = ["SiteResult", "Evaluation", "evaluate"]

PREVIEW = 400  # longest side of the per-site preview arrays used by the report's maps


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, np.ndarray):
        return _clean(v.tolist())
    if isinstance(v, float | np.floating):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


@dataclass
class SiteResult:
    """Accuracy at one site (or pooled over sites)."""

    name: str
    confusion: Any  # reefdask.calval.confusion.Confusion
    metrics: dict[str, Any]
    area_metrics: dict[str, Any]
    binary: dict[str, float] | None
    window: tuple[int, int, int, int] | None = None  # row_off, col_off, height, width
    preview: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly numbers (NaN as null)."""
        return _clean(
            {
                "name": self.name,
                "confusion": self.confusion.to_dict(),
                "metrics": self.metrics,
                "area_metrics": self.area_metrics,
                "binary": self.binary,
                "window": self.window,
            }
        )


@dataclass
class Evaluation:
    """Everything an evaluation measured; :meth:`to_dict` holds every number."""

    name: str
    level: str
    labels: tuple[int, ...]
    names: tuple[str, ...]
    colors: tuple[str, ...]
    positive: int | None
    sites: list[SiteResult]
    pooled: SiteResult
    means: dict[str, float]
    notes: list[str]
    inputs: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description (NaN as null)."""
        return _clean(
            {
                "name": self.name,
                "level": self.level,
                "labels": list(self.labels),
                "names": list(self.names),
                "colors": list(self.colors),
                "positive": self.positive,
                "sites": [s.to_dict() for s in self.sites],
                "pooled": self.pooled.to_dict(),
                "means": self.means,
                "notes": self.notes,
                "inputs": self.inputs,
            }
        )

    def _repr_html_(self) -> str:
        from reefdask.calval.reprs import evaluation_html

        return evaluation_html(self)


def _spec(x: Any) -> MapSpec:
    return x if isinstance(x, MapSpec) else MapSpec(url=str(x))


def evaluate(
    prediction: MapSpec | str,
    reference: MapSpec | str,
    *,
    schema: Any = None,
    level: str = "reef",
    sites: str | None = None,
    site_field: str = "name",
    imagery: str | None = None,
    align: bool = False,
    positive: int | None = None,
    name: str | None = None,
    chunks: int = 1024,
) -> Evaluation:
    """Evaluate ``prediction`` against ``reference`` at ``level`` of ``schema``.

    Parameters
    ----------
    prediction, reference
        :class:`~reefdask.calval.maps.MapSpec` or a path (raster, Zarr, or vector layer).
    schema
        A :class:`~reefdask.core.classes.ClassSchema` (default: the packaged one).
    level
        ``"detailed"``, ``"coarse"`` or ``"reef"`` (any level of the schema).
    sites
        Optional polygons (one per site, ``site_field`` naming them); default: the whole grid.
    imagery
        Optional imagery on the prediction grid, for the report's site maps.
    align
        Reproject a reference on another grid onto the prediction grid (nearest
        neighbour, recorded in :attr:`Evaluation.notes`). Without it a mismatch raises
        :class:`~reefdask.errors.GridMismatchError`.
    positive
        Code of the positive class for TP/FP/FN/TN areas; default: the class named
        ``reef`` at ``level`` when there is one.
    """
    from reefdask.calval.align import align_reference
    from reefdask.calval.maps import Grid, check_grid, is_vector, open_class_map

    if schema is None:
        from reefdask.core.classes import default_schema

        schema = default_schema()
    pred_spec, ref_spec = _spec(prediction), _spec(reference)
    notes: list[str] = []
    if is_vector(pred_spec.url):
        ref = open_class_map(ref_spec, schema, level, chunks=chunks)
        grid = Grid.of(ref)
        pred = open_class_map(pred_spec, schema, level, grid=grid, chunks=chunks)
        notes.append(
            f"Prediction polygons {pred_spec.url} rasterized onto the reference grid ({grid.describe()})."
        )
    else:
        pred = open_class_map(pred_spec, schema, level, chunks=chunks)
        grid = Grid.of(pred)
        ref = open_class_map(ref_spec, schema, level, grid=grid, chunks=chunks)
        if is_vector(ref_spec.url):
            notes.append(f"Reference polygons {ref_spec.url} rasterized onto the prediction grid.")
        elif not Grid.of(ref).same_as(grid):
            if not align:
                check_grid(ref, grid, "reference")
            ref, note = align_reference(ref_spec, schema, level, grid, ref, chunks=chunks)
            notes.append(note)
    labels = tuple(int(c) for c in schema.level_codes(level))
    if positive is None and "reef" in schema.level_names(level):
        positive = int(schema.code_of("reef", level))
    img = _open_preview_imagery(imagery, grid, chunks, notes)
    results = [
        _site(site_name, pred, ref, grid, labels, positive, mask, window, img)
        for site_name, mask, window in _site_windows(sites, site_field, grid, chunks, notes)
    ]
    pooled_cm = results[0].confusion
    for r in results[1:]:
        pooled_cm = pooled_cm + r.confusion
    pooled = _result("pooled", pooled_cm, labels, positive)
    from reefdask.calval.metrics import site_means

    means = site_means([r.binary for r in results if r.binary is not None]) if positive is not None else {}
    return Evaluation(
        name=name or pred_spec.url.rstrip("/").rsplit("/", 1)[-1],
        level=level,
        labels=labels,
        names=tuple(schema.level_names(level)),
        colors=tuple(schema.level_colors(level)),
        positive=positive,
        sites=results,
        pooled=pooled,
        means=means,
        notes=notes,
        inputs={
            "prediction": pred_spec.__dict__,
            "reference": ref_spec.__dict__,
            "sites": sites,
            "imagery": imagery,
            "grid": grid.describe(),
            "schema": getattr(schema, "fingerprint", None),
        },
    )


def _result(name: str, cm: Any, labels: tuple[int, ...], positive: int | None, **kw: Any) -> SiteResult:
    from reefdask.calval.metrics import binary_summary, class_metrics

    binary = None
    if positive is not None:
        binary = binary_summary(cm.counts, labels.index(positive), cm.area)
    return SiteResult(name, cm, class_metrics(cm.counts), class_metrics(cm.area), binary, **kw)


def _site_windows(sites: str | None, site_field: str, grid: Any, chunks: int, notes: list[str]) -> list[Any]:
    from reefdask.calval.maps import read_vector

    h, w = grid.shape
    if sites is None:
        return [("all", None, (0, 0, h, w))]
    from affine import Affine

    from reefdask.calval.maps import Grid, rasterize_lazy

    gdf = read_vector(sites, grid.crs)
    inv = ~Affine(*grid.transform)
    out = []
    for i, row in enumerate(gdf.itertuples()):
        name = str(getattr(row, site_field, None) or f"site-{i + 1}")
        x0, y0, x1, y1 = row.geometry.bounds
        cols, rows = zip(*(inv @ p for p in ((x0, y0), (x0, y1), (x1, y0), (x1, y1))), strict=True)
        r0, r1 = max(0, int(np.floor(min(rows)))), min(h, int(np.ceil(max(rows))))
        c0, c1 = max(0, int(np.floor(min(cols)))), min(w, int(np.ceil(max(cols))))
        if r1 <= r0 or c1 <= c0:
            notes.append(f"Site {name!r} lies outside the evaluation grid: skipped.")
            continue
        t = Affine(*grid.transform) @ Affine.translation(c0, r0)
        sub = Grid(grid.crs, tuple(t)[:6], (r1 - r0, c1 - c0))
        mask = rasterize_lazy([(row.geometry, 1)], sub, chunks=chunks, fill=0) == 1
        out.append((name, mask, (r0, c0, r1 - r0, c1 - c0)))
    if not out:
        from reefdask.errors import ConfigError

        raise ConfigError(
            f"No site of {sites} overlaps the evaluation grid ({grid.describe()}); check the sites file."
        )
    if gdf.geometry.union_all().area + 1e-9 < gdf.geometry.area.sum():
        notes.append(
            "Some sites overlap: their common pixels count in each site and more than once when pooled."
        )
    return out


def _site(
    name: str, pred: Any, ref: Any, grid: Any, labels: Any, positive: Any, mask: Any, window: Any, img: Any
) -> SiteResult:
    from affine import Affine

    from reefdask.calval.area import PixelAreas
    from reefdask.calval.confusion import confusion

    r0, c0, h, w = window
    sel = {"y": slice(r0, r0 + h), "x": slice(c0, c0 + w)}
    p, r = pred.isel(sel).data, ref.isel(sel).data
    t = Affine(*grid.transform) @ Affine.translation(c0, r0)
    cm = confusion(r, p, labels, mask=mask, areas=PixelAreas(t, grid.crs, width=w))
    res = _result(name, cm, labels, positive, window=window)
    step = max(1, int(np.ceil(max(h, w) / PREVIEW)))
    res.preview = {"prediction": np.asarray(p[::step, ::step]), "reference": np.asarray(r[::step, ::step])}
    if mask is not None:
        res.preview["mask"] = np.asarray(mask[::step, ::step])
    if img is not None:
        res.preview["imagery"] = np.asarray(img[:, r0 : r0 + h : step, c0 : c0 + w : step])
    return res


def _open_preview_imagery(imagery: str | None, grid: Any, chunks: int, notes: list[str]) -> Any:
    if imagery is None:
        return None
    import reefdask.cube.store  # noqa: F401  (registers the reader of cube scenes, STORE/SCENE)
    from reefdask.calval.maps import Grid
    from reefdask.io.rasters import open_imagery

    img = open_imagery(imagery, chunks=chunks)
    if not Grid.of(img).same_as(grid):
        notes.append(f"Imagery {imagery} is not on the prediction grid: site maps show no imagery.")
        return None
    return img.isel(band=slice(0, 3)).data
