"""The run's sparse Zarr on the global quad grid: one chunk per quad, written only where mapped.

Every product is an array over the **whole level grid** at the run's resolution
(``quads_per_side * quad_size`` pixels a side, north-up: row 0 is the northern edge of
the Web-Mercator square), chunked one quad per chunk. Zarr stores only chunks that were
written, so a run over a few thousand quads holds a few thousand chunks however large
the array's shape. Each quad writes exactly its own chunk-aligned region, so writes from
concurrent jobs never overlap and a quad written twice gives the same bytes.

Arrays (uint8, nodata 255): ``probabilities (class, y, x)`` percent of the detailed
classes, ``coarse (group, y, x)`` percent of the coarse groups, ``classes (y, x)``
coarse class codes, ``heat (y, x)`` reef probability 0-100, ``outline (y, x)`` 1 reef /
0 not reef. The group attributes hold the grid (CRS, transform, quad size) and the
run's provenance.

Examples
--------
>>> from reefdask.core.grid import Quad
>>> from reefdask.io.store import open_store
>>> grid = QuadGrid(level=15, quad_size=64)
>>> grid.shape, grid.region(Quad.parse("L15-0525E-1123N"))
((131072, 131072), (slice(59136, 59200, None), slice(33600, 33664, None)))
>>> ms = MapStore(open_store("memory://doc-mapstore/map.zarr"))
>>> ms.create(grid, {"heat": []}, grid_attrs(grid))
>>> ms.write(Quad.parse("L15-0525E-1123N"), {"heat": np.full((64, 64), 7, "uint8")})
>>> int(ms.read("heat", Quad.parse("L15-0525E-1123N")).max()), ms.products()
(7, ['heat'])
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from reefdask.core.grid import CRS, HALF_WORLD, Quad
from reefdask.io.store import Store, open_store

__all__ = ["NODATA", "QuadGrid", "MapStore", "grid_attrs", "zarr_store"]

NODATA = 255


@dataclass(frozen=True)
class QuadGrid:
    """Pixel geometry of the whole level grid at ``quad_size`` pixels per quad."""

    level: int
    quad_size: int

    @property
    def quads_per_side(self) -> int:
        """Quads along one side of the world."""
        return 2 ** (self.level - 4)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the whole grid."""
        n = self.quads_per_side * self.quad_size
        return n, n

    @property
    def pixel_size(self) -> float:
        """Pixel size in EPSG:3857 metres."""
        return 2 * HALF_WORLD / self.shape[0]

    def transform(self) -> tuple[float, ...]:
        """GDAL geotransform of the whole grid (top-left origin)."""
        return (-HALF_WORLD, self.pixel_size, 0.0, HALF_WORLD, 0.0, -self.pixel_size)

    def region(self, quad: Quad) -> tuple[slice, slice]:
        """``(rows, cols)`` slices of ``quad`` in the grid."""
        s = self.quad_size
        r0 = (self.quads_per_side - 1 - quad.y) * s
        c0 = quad.x * s
        return slice(r0, r0 + s), slice(c0, c0 + s)


def zarr_store(store: Store, read_only: bool = False) -> Any:
    """The zarr-python store over ``store``'s root: files when it is local, else its fsspec options."""
    from zarr.storage import FsspecStore, LocalStore

    if store.local:
        return LocalStore(store.url_for(), read_only=read_only)
    opts = store.storage_options or None
    return FsspecStore.from_url(store.url_for(), storage_options=opts, read_only=read_only)


class MapStore:
    """Create, write and read the products of a run (``RUN/map.zarr``).

    ``store`` is the :class:`~reefdask.io.store.Store` rooted at the Zarr group (a URL is
    opened with :func:`~reefdask.io.store.open_store` and ``storage_options``).
    """

    def __init__(self, store: Store | str, storage_options: dict[str, Any] | None = None) -> None:
        self.store = open_store(store, storage_options)
        self._group: Any = None

    @property
    def url(self) -> str:
        """The group's URL."""
        return self.store.url_for()

    def __reduce__(self) -> tuple[Any, ...]:
        return (MapStore, (self.store,))

    def create(self, grid: QuadGrid, bands: dict[str, list[int]], attrs: dict[str, Any]) -> None:
        """Lay out the arrays (idempotent: concurrent jobs write identical metadata).

        ``bands`` maps a product to its band codes (empty for single-band products).
        """
        import zarr
        from zarr.errors import ContainsArrayError, ContainsGroupError

        store = zarr_store(self.store)
        try:
            group = zarr.create_group(store, attributes=_jsonable(attrs))
        except ContainsGroupError:
            group = zarr.open_group(store, mode="r+")
        s = grid.quad_size
        for name, codes in bands.items():
            shape: tuple[int, ...] = grid.shape if not codes else (len(codes), *grid.shape)
            chunks: tuple[int, ...] = (s, s) if not codes else (len(codes), s, s)
            dims = ("y", "x") if not codes else ("band", "y", "x")
            try:
                group.create_array(
                    name,
                    shape=shape,
                    chunks=chunks,
                    dtype="uint8",
                    fill_value=NODATA,
                    dimension_names=dims,
                    attributes={"band_codes": codes, "nodata": NODATA},
                    compressors=zarr.codecs.ZstdCodec(level=3),
                )
            except ContainsArrayError:
                pass
        self._group = None

    @property
    def group(self) -> Any:
        """The Zarr group (opened on first use)."""
        if self._group is None:
            import zarr

            self._group = zarr.open_group(zarr_store(self.store), mode="r+")
        return self._group

    def attrs(self) -> dict[str, Any]:
        """The group's attributes (grid and provenance)."""
        return dict(self.group.attrs)

    def grid(self) -> QuadGrid:
        """The grid the arrays were laid out on."""
        a = self.attrs()
        return QuadGrid(int(a["level"]), int(a["quad_size"]))

    def write(self, quad: Quad, products: dict[str, np.ndarray]) -> None:
        """Write ``quad``'s region of each product (exactly its own chunks)."""
        rows, cols = self.grid().region(quad)
        for name, block in products.items():
            arr = self.group[name]
            if block.ndim == 3:
                arr[:, rows, cols] = block
            else:
                arr[rows, cols] = block

    def read(self, name: str, quad: Quad) -> np.ndarray:
        """``quad``'s region of product ``name`` (255 where nothing was written)."""
        rows, cols = self.grid().region(quad)
        arr = self.group[name]
        return np.asarray(arr[:, rows, cols] if arr.ndim == 3 else arr[rows, cols])

    def products(self) -> list[str]:
        """Names of the product arrays."""
        return sorted(k for k, _ in self.group.arrays())


def grid_attrs(grid: QuadGrid) -> dict[str, Any]:
    """Attributes describing ``grid`` (stored on the group)."""
    return {
        "level": grid.level,
        "quad_size": grid.quad_size,
        "crs": CRS,
        "geotransform": list(grid.transform()),
        "nodata": NODATA,
    }


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(d, default=str)))
