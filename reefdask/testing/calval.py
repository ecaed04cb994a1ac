"""A tiny, seeded calval scene in real formats, for tests, demos and the example config.

:func:`make_calval_scene` writes, in EPSG:3857 near Lighthouse Reef (Belize):

* ``reference.tif``: int16 detailed codes, nodata -9999 (a reef ring with a lagoon, an
  island, non-reef shallows, a cloud and a nodata stripe on deep water);
* ``prediction.tif``: uint8 detailed codes, nodata 255: the reference with the reef
  grown by a few pixels to the east, salt-and-pepper errors and a nodata corner;
* ``prediction.zarr``: the same as an inference output (``classes (y, x)`` and
  ``probabilities (class, y, x)`` uint8 percent, 255 = nodata);
* ``imagery.tif``: RGB + alpha uint8;
* ``reference.geojson``: the reference as polygons (attribute ``class``);
* ``sites.geojson``: two site polygons (attribute ``name``) in EPSG:4326.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["make_calval_scene"]


def _classes(h: int, w: int, seed: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = h / 2, w / 2.2
    r = np.hypot((yy - cy) / (h * 0.33), (xx - cx) / (w * 0.3))
    ref = np.full((h, w), 3, dtype=np.int16)  # deep water
    ref[(r < 1.0) & (r >= 0.8)] = 5  # forereef
    ref[(r < 0.8) & (r >= 0.65)] = 6  # reef flat
    ref[r < 0.65] = 4  # lagoon
    ref[np.hypot(yy - cy, xx - cx) < h * 0.08] = 1  # island
    ref[(xx > w * 0.8) & (yy < h * 0.35)] = 9  # non-reef shallow
    ref[(xx > w * 0.8) & (yy > h * 0.75)] = 14  # cloud
    ref[:, : max(1, w // 40)] = -9999  # nodata stripe
    rng = np.random.default_rng(seed)
    pinn = rng.integers(0, h * w, size=max(1, h * w // 2000))
    ref.ravel()[pinn[ref.ravel()[pinn] == 4]] = 8  # pinnacles in the lagoon
    return ref


def make_calval_scene(
    outdir: str | Path, *, size: tuple[int, int] = (96, 128), seed: int = 0, px: float = 10.0
) -> dict[str, Any]:
    """Write the scene into ``outdir``; return a dict of the paths and arrays."""
    import rasterio
    import xarray as xr
    from affine import Affine

    from reefdask.core.classes import default_schema
    from reefdask.core.grid import Quad, lonlat_to_mercator
    from reefdask.io.rasters import raster_grid

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    h, w = size
    left, top = lonlat_to_mercator(-87.6, 17.3)
    q = Quad.from_lonlat(-87.6, 17.3)
    left = q.bounds()[0] + round((left - q.bounds()[0]) / px) * px  # keep the grid on the quad's lattice
    transform = Affine(px, 0.0, left, 0.0, -px, top)
    ref = _classes(h, w, seed)
    rng = np.random.default_rng(seed + 1)
    pred = np.where(ref == -9999, 6, ref).astype(np.uint8)
    shift = max(2, w // 40)
    reefy = np.isin(ref, [5, 6])
    pred[:, shift:][reefy[:, :-shift] & (ref[:, shift:] == 3)] = 5  # reef grown eastward: FP
    flip = rng.random((h, w)) < 0.04
    pred[flip] = rng.choice(np.array([3, 4, 5, 6, 9], dtype=np.uint8), size=int(flip.sum()))
    pred[: h // 8, w - w // 8 :] = 255  # nodata corner
    profile = {
        "driver": "GTiff",
        "height": h,
        "width": w,
        "count": 1,
        "crs": "EPSG:3857",
        "transform": transform,
    }
    paths: dict[str, Any] = {k: out / f"{k}.tif" for k in ("reference", "prediction", "imagery")}
    with rasterio.open(paths["reference"], "w", dtype="int16", nodata=-9999, **profile) as f:
        f.write(ref, 1)
    with rasterio.open(paths["prediction"], "w", dtype="uint8", nodata=255, **profile) as f:
        f.write(pred, 1)
    schema = default_schema()
    colors = {
        c: [int(hx[i : i + 2], 16) for i in (1, 3, 5)]
        for c, hx in zip(schema.codes, schema.colors, strict=True)
    }
    rgb = np.zeros((4, h, w), dtype=np.uint8)
    for c, col in colors.items():
        rgb[:3, ref == c] = np.asarray(col, dtype=np.uint8)[:, None]
    noise = rng.integers(-20, 21, size=(3, h, w))
    rgb[:3] = np.clip(rgb[:3].astype(int) + noise, 1, 255).astype(np.uint8)
    rgb[3] = np.where(ref == -9999, 0, 255)
    with rasterio.open(paths["imagery"], "w", dtype="uint8", **{**profile, "count": 4}) as f:
        f.write(rgb)
        f.colorinterp = [rasterio.enums.ColorInterp[c] for c in ("red", "green", "blue", "alpha")]

    # the inference engine's layout: probabilities in percent over the detailed codes
    codes = np.asarray(schema.codes)
    prob = np.full((len(codes), h, w), 2, dtype=np.uint8)
    idx = np.searchsorted(codes, np.where(pred == 255, codes[0], pred))
    np.put_along_axis(prob, idx[None], 100 - 2 * (len(codes) - 1), axis=0)
    prob[:, pred == 255] = 255
    coords = raster_grid(h, w, transform)
    ds = xr.Dataset(
        {
            "classes": (("y", "x"), pred, {"nodata": 255}),
            "probabilities": (("class", "y", "x"), prob, {"nodata": 255, "units": "percent"}),
        },
        coords={"class": codes.astype("int32"), **coords},
    ).rio.write_crs("EPSG:3857")
    paths["zarr"] = out / "prediction.zarr"
    ds.to_zarr(paths["zarr"], mode="w", zarr_format=3, consolidated=False)

    paths["reference_vector"] = _polygons(ref, transform, out / "reference.geojson")
    paths["sites"] = out / "sites.geojson"
    sites = []
    for name, (r0, r1, c0, c1) in {
        "north-reef": (0, h // 2, 0, w),
        "south-reef": (h // 2, h, w // 8, w * 3 // 4),
    }.items():
        xs = [left + c * px for c in (c0, c1)]
        ys = [top - r * px for r in (r0, r1)]
        ring = [
            _lonlat(x, y)
            for x, y in ((xs[0], ys[0]), (xs[1], ys[0]), (xs[1], ys[1]), (xs[0], ys[1]), (xs[0], ys[0]))
        ]
        sites.append(
            {
                "type": "Feature",
                "properties": {"name": name},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    paths["sites"].write_text(json.dumps({"type": "FeatureCollection", "features": sites}))
    return {**{k: str(v) for k, v in paths.items()}, "ref": ref, "pred": pred, "transform": transform}


def _lonlat(x: float, y: float) -> list[float]:
    from reefdask.core.grid import mercator_to_lonlat

    return list(mercator_to_lonlat(x, y))


def _polygons(ref: np.ndarray, transform: Any, path: Path) -> str:
    import shapely
    from pyproj import Transformer
    from rasterio.features import shapes
    from shapely.geometry import mapping, shape

    to_ll = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform

    def project(geom: Any) -> Any:
        return shapely.transform(geom, lambda xy: np.column_stack(to_ll(xy[:, 0], xy[:, 1])))

    feats = [
        {"type": "Feature", "properties": {"class": int(v)}, "geometry": mapping(project(shape(g)))}
        for g, v in shapes(ref, mask=ref != -9999, transform=transform)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return str(path)
