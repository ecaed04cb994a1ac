"""The Web-Mercator quad grid of the imagery providers.

Level-``L`` pixels are those of slippy-map zoom ``L`` (``C / (256 * 2**L)`` metres at
the equator, ``C`` the equatorial circumference); a quad is 4096 x 4096 of them, so
level 15 has 2048 x 2048 quads of about 4.777 m pixels over the world (EPSG:3857).

Quad ids read ``L15-XXXXE-YYYYN``: ``XXXX`` is the column counted eastward from the
antimeridian (-180 degrees), ``YYYY`` the row counted northward from the southern edge
of the Web-Mercator square, both zero-based and zero-padded to four digits.

Examples
--------
>>> q = Quad.parse("L15-0123E-0456N")
>>> (q.x, q.y, q.level)
(123, 456, 15)
>>> str(q)
'L15-0123E-0456N'
>>> round(q.pixel_size(), 3)
4.777
>>> q.shape(factor=2)
(2048, 2048)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from affine import Affine

from reefdask.errors import QuadIdError

__all__ = [
    "CRS",
    "EARTH_RADIUS",
    "HALF_WORLD",
    "QUAD_PIXELS",
    "Quad",
    "lonlat_to_mercator",
    "mercator_to_lonlat",
    "quads_in_bbox",
    "quads_for_geometry",
]

CRS = "EPSG:3857"
EARTH_RADIUS = 6378137.0
#: Half the side of the Web-Mercator square, in metres.
HALF_WORLD = math.pi * EARTH_RADIUS
#: Pixels along a quad's side at full resolution.
QUAD_PIXELS = 4096
_MAX_LAT = math.degrees(2 * math.atan(math.exp(math.pi)) - math.pi / 2)

_ID = re.compile(r"^L(?P<level>\d{1,2})-(?P<x>\d{4})E-(?P<y>\d{4})N$")


def lonlat_to_mercator(lon: float, lat: float) -> tuple[float, float]:
    """Project longitude/latitude degrees to EPSG:3857 metres."""
    lat = max(min(lat, _MAX_LAT), -_MAX_LAT)
    x = EARTH_RADIUS * math.radians(lon)
    y = EARTH_RADIUS * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return x, y


def mercator_to_lonlat(x: float, y: float) -> tuple[float, float]:
    """Unproject EPSG:3857 metres to longitude/latitude degrees."""
    lon = math.degrees(x / EARTH_RADIUS)
    lat = math.degrees(2 * math.atan(math.exp(y / EARTH_RADIUS)) - math.pi / 2)
    return lon, lat


def _quads_per_side(level: int) -> int:
    if not 4 <= level <= 23:
        raise QuadIdError(f"Quad level {level} is outside 4..23; use a level such as 15.")
    return 2 ** (level - 4)


@dataclass(frozen=True, order=True)
class Quad:
    """One quad of the provider grid: column ``x`` (eastward), row ``y`` (northward)."""

    x: int
    y: int
    level: int = 15

    def __post_init__(self) -> None:
        n = _quads_per_side(self.level)
        if not (0 <= self.x < n and 0 <= self.y < n):
            raise QuadIdError(
                f"Quad ({self.x}, {self.y}) is outside the level-{self.level} grid of "
                f"{n} x {n} quads; columns and rows run from 0 to {n - 1}."
            )

    # -- ids ---------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> Quad:
        """Parse an id such as ``L15-0123E-0456N`` (a ``.tif`` suffix or folder is allowed)."""
        name = str(text).rsplit("/", 1)[-1]
        for suffix in (".tif", ".tiff", ".TIF", ".zarr"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        m = _ID.match(name)
        if m is None:
            raise QuadIdError(
                f"{text!r} is not a quad id; ids look like 'L15-0123E-0456N' "
                "(level, 4-digit column then 'E', 4-digit row then 'N')."
            )
        return cls(int(m["x"]), int(m["y"]), int(m["level"]))

    def __str__(self) -> str:
        return f"L{self.level}-{self.x:04d}E-{self.y:04d}N"

    @property
    def id(self) -> str:
        """The provider's id of this quad."""
        return str(self)

    # -- geometry ----------------------------------------------------------
    @property
    def quads_per_side(self) -> int:
        """Quads along one side of the world at this level."""
        return _quads_per_side(self.level)

    @property
    def side(self) -> float:
        """Side of the quad in EPSG:3857 metres."""
        return 2 * HALF_WORLD / self.quads_per_side

    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in EPSG:3857 metres."""
        left = -HALF_WORLD + self.x * self.side
        bottom = -HALF_WORLD + self.y * self.side
        return left, bottom, left + self.side, bottom + self.side

    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` in degrees."""
        left, bottom, right, top = self.bounds()
        west, south = mercator_to_lonlat(left, bottom)
        east, north = mercator_to_lonlat(right, top)
        return west, south, east, north

    def size(self, factor: int = 1) -> int:
        """Pixels along a side when the quad is downsampled by ``factor`` (1, 2, 4, ...)."""
        if factor < 1 or QUAD_PIXELS % factor:
            raise QuadIdError(f"Downsampling factor {factor} must divide {QUAD_PIXELS}; use 1, 2 or 4.")
        return QUAD_PIXELS // factor

    def shape(self, factor: int = 1) -> tuple[int, int]:
        """``(rows, cols)`` of the quad at ``factor``."""
        n = self.size(factor)
        return n, n

    def pixel_size(self, factor: int = 1) -> float:
        """Pixel size in EPSG:3857 metres (about 4.777 m at level 15, factor 1)."""
        return self.side / self.size(factor)

    def transform(self, factor: int = 1, size: int | None = None) -> Affine:
        """The affine transform of the quad, origin at its top-left corner.

        ``size`` overrides the pixel count per side (any positive integer).
        """
        n = self.size(factor) if size is None else int(size)
        if n <= 0:
            raise QuadIdError(f"A quad raster needs a positive size, not {n}.")
        left, _, _, top = self.bounds()
        px = self.side / n
        return Affine(px, 0.0, left, 0.0, -px, top)

    # -- topology ----------------------------------------------------------
    def neighbours(self) -> list[Quad]:
        """The (up to) 8 surrounding quads, wrapping across the antimeridian.

        Ordered row by row from the north-west to the south-east.
        """
        n = self.quads_per_side
        out = []
        for dy in (1, 0, -1):
            for dx in (-1, 0, 1):
                if dx == dy == 0:
                    continue
                y = self.y + dy
                if 0 <= y < n:
                    out.append(Quad((self.x + dx) % n, y, self.level))
        return out

    def offset(self, dx: int, dy: int) -> Quad:
        """The quad ``dx`` columns east and ``dy`` rows north (columns wrap)."""
        return Quad((self.x + dx) % self.quads_per_side, self.y + dy, self.level)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description."""
        return {"id": self.id, "x": self.x, "y": self.y, "level": self.level, "bounds": self.bounds()}

    @classmethod
    def containing(cls, x: float, y: float, level: int = 15) -> Quad:
        """The quad that holds the EPSG:3857 point ``(x, y)``."""
        n = _quads_per_side(level)
        side = 2 * HALF_WORLD / n
        col = min(max(math.floor((x + HALF_WORLD) / side), 0), n - 1)
        row = min(max(math.floor((y + HALF_WORLD) / side), 0), n - 1)
        return cls(col, row, level)

    @classmethod
    def from_lonlat(cls, lon: float, lat: float, level: int = 15) -> Quad:
        """The quad that holds a longitude/latitude point."""
        return cls.containing(*lonlat_to_mercator(lon, lat), level=level)


def quads_in_bbox(
    bbox: tuple[float, float, float, float], *, level: int = 15, crs: str = "EPSG:4326"
) -> Iterator[Quad]:
    """Quads that intersect ``bbox = (xmin, ymin, xmax, ymax)``.

    ``crs`` is ``"EPSG:4326"`` (degrees) or ``"EPSG:3857"`` (metres). Boxes crossing the
    antimeridian are not split: pass two boxes.

    >>> [q.id for q in quads_in_bbox((-87.6, 17.1, -87.4, 17.3))]
    ['L15-0525E-1122N', 'L15-0526E-1122N', 'L15-0525E-1123N', 'L15-0526E-1123N']
    """
    xmin, ymin, xmax, ymax = bbox
    if xmin > xmax or ymin > ymax:
        raise QuadIdError(f"Bounding box {bbox} is not (xmin, ymin, xmax, ymax) with min <= max.")
    if crs.upper() == "EPSG:4326":
        xmin, ymin = lonlat_to_mercator(xmin, ymin)
        xmax, ymax = lonlat_to_mercator(xmax, ymax)
    elif crs.upper() != "EPSG:3857":
        raise QuadIdError(f"Bounding boxes must be in EPSG:4326 or EPSG:3857, not {crs}; reproject first.")
    lo = Quad.containing(xmin + 1e-6, ymin + 1e-6, level)
    hi = Quad.containing(xmax, ymax, level)
    # a max edge that falls exactly on a quad boundary does not enter the next quad
    eps = 1e-6  # metres: float noise in edges computed from different quads
    if hi.x > lo.x and xmax <= Quad(hi.x, hi.y, level).bounds()[0] + eps:
        hi = Quad(hi.x - 1, hi.y, level)
    if hi.y > lo.y and ymax <= Quad(hi.x, hi.y, level).bounds()[1] + eps:
        hi = Quad(hi.x, hi.y - 1, level)
    for row in range(lo.y, hi.y + 1):
        for col in range(lo.x, hi.x + 1):
            yield Quad(col, row, level)


def quads_for_geometry(geometry: Any, *, level: int = 15, crs: str = "EPSG:4326") -> list[Quad]:
    """Quads whose square intersects ``geometry`` (a shapely geometry or GeoJSON mapping)."""
    import shapely
    from shapely.geometry import box, shape

    geom = shape(geometry) if isinstance(geometry, dict) else geometry
    if crs.upper() == "EPSG:4326":
        geom = shapely.transform(geom, _project_many)
    elif crs.upper() != "EPSG:3857":
        raise QuadIdError(f"Geometries must be in EPSG:4326 or EPSG:3857, not {crs}; reproject first.")
    candidates = quads_in_bbox(geom.bounds, level=level, crs="EPSG:3857")
    return [q for q in candidates if box(*q.bounds()).intersects(geom)]


def _project_many(coords: Any) -> Any:
    """Project an ``(N, 2)`` array of lon/lat degrees to EPSG:3857 metres."""
    import numpy as np

    lat = np.clip(coords[:, 1], -_MAX_LAT, _MAX_LAT)
    x = EARTH_RADIUS * np.radians(coords[:, 0])
    y = EARTH_RADIUS * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))
    return np.column_stack([x, y])
