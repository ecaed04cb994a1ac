"""Reading one training window from a scene: features, labels and boundary.

Each call opens its raster, reads one window and closes it, so a Dask task carries only
paths and numbers (picklable, thread-safe). Features come from a raster or from one scene
of a Zarr imagery cube (:mod:`reefdask.cube`: ``imagery (band, y, x)``, alpha already
applied at ingest); labels and boundary rasters must share the features' grid. Raster
features follow :mod:`reefdask.core.nodata` exactly as ``open_imagery`` and ``reefdask clean``
do (one rule, :func:`~reefdask.core.nodata.mask_source`): an alpha band or internal mask is
consumed and dropped; a pixel is nodata when every band equals the nodata value (every
band NaN for NaN nodata). Labels become softmax channel indices (``uint8``, 255 = nodata)
through the class schema's vectorised table (:mod:`reefdask.core.lut`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reefdask.core.lut import apply_lut, index_lut
from reefdask.core.nodata import imagery_nodata, mask_source, read_masked, valid_mask_array
from reefdask.errors import IncompatibleScenesError, InputNotFoundError, NotARasterError

__all__ = [
    "SceneInfo",
    "SceneReader",
    "scene_info",
    "cube_scene_info",
    "read_features",
    "read_labels",
    "read_boundary",
    "label_lut",
]

_VECTOR = (".gpkg", ".geojson", ".json", ".shp", ".fgb", ".parquet")


@dataclass(frozen=True)
class SceneInfo:
    """What the sampler needs to know about a scene (plain values: travels to workers)."""

    name: str
    features: str
    labels: str
    boundary: str | None
    height: int
    width: int
    bands: tuple[int, ...]
    alpha: int | None
    dtype: str
    nodata: float | None
    transform: tuple[float, ...]
    crs: str | None
    #: the scene's group when ``features`` is a Zarr imagery cube; None for a raster
    scene: str | None = None
    #: how the raster marks nodata (:func:`reefdask.core.nodata.mask_source`): alpha, internal, none
    mask: str = "none"


def scene_info(name: str, features: str, labels: str, boundary: str | None = None) -> SceneInfo:
    """Inspect a scene's rasters; labels must share the features' grid."""
    ds = _open(features)
    with ds:
        kind, index = mask_source(ds)  # the one alpha rule of open_imagery and clean
        alpha = index if kind == "alpha" else None
        bands = tuple(b for b in range(1, ds.count + 1) if b != alpha)
        nodata = imagery_nodata(ds.nodata, ds.dtypes[0], kind != "none")
        mask = kind
        info = dict(
            height=ds.height,
            width=ds.width,
            transform=tuple(ds.transform)[:6],
            crs=ds.crs.to_string() if ds.crs else None,
            dtype=ds.dtypes[0],
        )
    with _open(labels) as lab:
        if (lab.height, lab.width) != (info["height"], info["width"]) or not np.allclose(
            tuple(lab.transform)[:6], info["transform"]
        ):
            raise IncompatibleScenesError(
                f"Labels {labels} ({lab.height}x{lab.width}) are not on the grid of features {features} "
                f"({info['height']}x{info['width']}); rasterize the labels onto the feature grid first."
            )
    return SceneInfo(
        name, features, labels, boundary, bands=bands, alpha=alpha, nodata=nodata, mask=mask, **info
    )


def cube_scene_info(
    name: str | None, store: str, scene: str | None, labels: str, boundary: str | None = None
) -> SceneInfo:
    """Inspect a cube scene (``scene=None``: the cube's only one); labels must share its grid.

    A grid mismatch (shape, transform or CRS) raises :class:`IncompatibleScenesError`
    naming both grids; ``reefdask clean`` rasterizes labels onto the imagery grid.
    """
    from reefdask.cube.store import open_cube

    da = open_cube(store, scene)
    scene = str(da.attrs["source"]).rstrip("/").rsplit("/", 1)[-1] if scene is None else scene
    crs = da.rio.crs.to_string() if da.rio.crs else None
    transform = tuple(da.rio.transform())[:6]
    height, width = da.sizes["y"], da.sizes["x"]
    nodata = da.attrs.get("nodata")
    with _open(labels) as lab:
        lab_crs = lab.crs.to_string() if lab.crs else None
        lab_transform = tuple(lab.transform)[:6]
        same = (lab.height, lab.width) == (height, width) and np.allclose(lab_transform, transform)
        if not same or (crs and lab_crs and lab_crs != crs):
            raise IncompatibleScenesError(
                f"Labels {labels} are on grid {lab.height}x{lab.width} {lab_crs} transform "
                f"{_fmt(lab_transform)}, but cube scene {scene!r} of {store} is on grid {height}x{width} "
                f"{crs} transform {_fmt(transform)}; run `reefdask clean` to rasterize the labels onto "
                "the imagery grid (or ingest the imagery the labels were made for)."
            )
    return SceneInfo(
        name or scene,
        store,
        labels,
        boundary,
        height=height,
        width=width,
        bands=tuple(int(b) for b in da["band"].values),
        alpha=None,
        dtype=str(da.dtype),
        nodata=None if nodata is None else float(nodata),
        transform=transform,
        crs=crs,
        scene=scene,
    )


def _fmt(transform: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in transform) + ")"


def _cube_array(info: SceneInfo) -> Any:
    """The scene's ``imagery (band, y, x)`` Zarr array (opened lazily, reads nothing)."""
    import zarr

    from reefdask.io.storage import storage_options_for

    opts = storage_options_for(info.features) if "://" in info.features else None
    return zarr.open_group(info.features, mode="r", storage_options=opts or None)[f"{info.scene}/imagery"]


def _open(path: str) -> Any:
    import rasterio

    if "://" not in path and not Path(path).exists():
        raise InputNotFoundError(f"Raster {path} does not exist; check the path in the samples config.")
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as err:
        raise NotARasterError(f"{path} cannot be read as a raster ({err}); replace or re-export it.") from err


class SceneReader:
    """Open a scene's rasters once and read many windows (a context manager, one per task).

    >>> # with SceneReader(info) as rd: f, valid = rd.features(0, 0, 64)
    """

    def __init__(self, info: SceneInfo) -> None:
        self.info = info
        self._open: dict[str, Any] = {}

    def __enter__(self) -> SceneReader:
        return self

    def __exit__(self, *exc: object) -> None:
        for ds in self._open.values():
            ds.close()
        self._open.clear()

    def _ds(self, path: str) -> Any:
        if path not in self._open:
            self._open[path] = _open(path)
        return self._open[path]

    def features(self, row: int, col: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(features (size, size, band), valid (size, size))`` of the window at (row, col)."""
        if self.info.scene is not None:
            if "cube" not in self._open:
                self._open["cube"] = _ZarrHandle(_cube_array(self.info))
            return read_features(self.info, row, col, size, self._open["cube"].array)
        return read_features(self.info, row, col, size, self._ds(self.info.features))

    def labels(self, row: int, col: int, size: int, lut: np.ndarray) -> np.ndarray:
        """Channel indices (uint8, 255 = nodata) of the window at (row, col)."""
        return read_labels(self.info, row, col, size, lut, self._ds(self.info.labels))

    def boundary(self, row: int, col: int, size: int) -> np.ndarray:
        """True where the window lies inside the sampling boundary."""
        b = self.info.boundary
        if b is None or b.lower().endswith(_VECTOR):
            return read_boundary(self.info, row, col, size)
        return read_boundary(self.info, row, col, size, self._ds(b))


class _ZarrHandle:
    """A Zarr array kept among a reader's open datasets (nothing to close)."""

    def __init__(self, array: Any) -> None:
        self.array = array

    def close(self) -> None:
        self.array = None


def read_features(
    info: SceneInfo, row: int, col: int, size: int, ds: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(features (size, size, band), valid (size, size))`` of the window at (row, col).

    ``ds`` is an open rasterio dataset, or for a cube scene its Zarr ``imagery`` array.
    """
    if info.scene is not None:
        arr = _cube_array(info) if ds is None else ds
        data = np.asarray(arr[:, row : row + size, col : col + size])
    else:
        data = _read_raster_features(info, row, col, size, ds)
    return np.moveaxis(data, 0, -1), np.asarray(valid_mask_array(data, info.nodata))


def _read_raster_features(info: SceneInfo, row: int, col: int, size: int, ds: Any) -> np.ndarray:
    from rasterio.windows import Window

    win = Window(col, row, size, size)
    own = ds is None
    ds = _open(info.features) if own else ds
    try:
        mask = "alpha" if info.alpha is not None and info.mask == "none" else info.mask
        data = read_masked(ds, info.bands, win, mask, info.alpha or 0, info.nodata)
    finally:
        if own:
            ds.close()
    return data


def label_lut(codes: tuple[int, ...]) -> np.ndarray:
    """Lookup table: label code (0..255) -> softmax channel index, 255 for anything else.

    The class schema's table (:meth:`reefdask.core.classes.ClassSchema.channel_lut`) for
    these codes; apply it with :func:`reefdask.core.lut.apply_lut`.
    """
    return index_lut(codes)


def read_labels(
    info: SceneInfo, row: int, col: int, size: int, lut: np.ndarray, ds: Any = None
) -> np.ndarray:
    """Channel indices (uint8, 255 = nodata) of the window at (row, col)."""
    from rasterio.windows import Window

    if ds is None:
        with _open(info.labels) as own:
            raw = own.read(1, window=Window(col, row, size, size))
    else:
        raw = ds.read(1, window=Window(col, row, size, size))
    return apply_lut(raw, lut, fill=255)


def read_boundary(info: SceneInfo, row: int, col: int, size: int, ds: Any = None) -> np.ndarray:
    """True where the window lies inside the sampling boundary (all True without one)."""
    if info.boundary is None:
        return np.ones((size, size), bool)
    from affine import Affine
    from rasterio.windows import Window

    if info.boundary.lower().endswith(_VECTOR):
        import geopandas as gpd
        from rasterio.features import rasterize

        a, b, c, d, e, f = info.transform
        x0, y0 = a * col + b * row + c, d * col + e * row + f
        x1, y1 = a * (col + size) + b * (row + size) + c, d * (col + size) + e * (row + size) + f
        gdf = gpd.read_file(info.boundary, bbox=(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        if info.crs and gdf.crs is not None:
            gdf = gdf.to_crs(info.crs)
        if gdf.empty:
            return np.zeros((size, size), bool)
        wt = Affine(a, b, a * col + b * row + c, d, e, d * col + e * row + f)
        return rasterize(gdf.geometry, out_shape=(size, size), transform=wt, fill=0, default_value=1).astype(
            bool
        )
    if ds is not None:
        return ds.read(1, window=Window(col, row, size, size)) != 0
    with _open(info.boundary) as own:
        return own.read(1, window=Window(col, row, size, size)) != 0
