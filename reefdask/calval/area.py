"""Ground areas of raster pixels, row by row, in km².

On Web Mercator (EPSG:3857) a pixel of side ``s`` metres covers about
``s² cos²(lat)`` on the ground; reefdask uses the exact figure instead: a pixel row is
the band of the WGS84 ellipsoid between two latitudes, and its area over a longitude
span ``Δλ`` is ``Δλ · b²/2 · [g(φ)]`` with ``g(φ) = sinφ / (1 - e² sin²φ) + atanh(e sinφ) / e``
(the authalic zone formula). Geographic grids (degrees) use the same formula. Other
projections use pyproj's areal scale factor at each row's centre.

Examples
--------
>>> from affine import Affine
>>> px = 4.777314267823516
>>> equator = PixelAreas(Affine(px, 0, 0, 0, -px, px / 2), "EPSG:3857", width=1)
>>> round(float(equator.rows(0, 1)[0]) * 1e6, 2)  # m²: 4.78 m wide, 4.75 m tall on the ellipsoid
22.67
>>> import math
>>> y60 = 6378137 * math.log(math.tan(math.pi / 4 + math.radians(60) / 2))
>>> at60 = PixelAreas(Affine(px, 0, 0, 0, -px, y60 + px / 2), "EPSG:3857", width=1)
>>> round(float(at60.rows(0, 1)[0] / equator.rows(0, 1)[0]), 3)   # cos²(60°) = 0.25 on a sphere
0.253
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from reefdask.errors import MissingCRSError, ReefdaskError

__all__ = ["PixelAreas", "zone_area", "row_areas"]


def zone_area(lat_deg: Any, a: float = 6378137.0, inv_f: float = 298.257223563) -> np.ndarray:
    """Area (m²) between the equator and latitude ``lat_deg`` per radian of longitude.

    Signed (negative south of the equator). ``inv_f = 0`` gives the sphere of radius ``a``.
    """
    phi = np.radians(np.asarray(lat_deg, dtype=np.float64))
    s = np.sin(phi)
    if not inv_f:
        return a * a * s
    f = 1.0 / inv_f
    e2 = f * (2 - f)
    e = math.sqrt(e2)
    b2 = a * a * (1 - e2)
    return 0.5 * b2 * (s / (1 - e2 * s * s) + np.arctanh(e * s) / e)


@dataclass(frozen=True)
class PixelAreas:
    """Ground area of the pixels of a north-up grid, by row (picklable, cheap to ship).

    Parameters
    ----------
    transform
        The grid's affine transform (``affine.Affine`` or its 6 coefficients ``a..f``).
    crs
        Anything pyproj's ``CRS.from_user_input`` reads.
    width
        Columns of the grid (used for the row centre in generic projections).
    """

    transform: Any
    crs: Any
    width: int = 1

    def __post_init__(self) -> None:
        if self.crs is None:
            raise MissingCRSError(
                "Pixel areas need the grid's CRS; write one into the raster (rio.write_crs)."
            )
        t = tuple(float(v) for v in tuple(self.transform)[:6])
        if t[1] != 0 or t[3] != 0:
            raise ReefdaskError(
                f"Grid transform {t} is rotated; pixel areas need a north-up grid: warp it first."
            )
        object.__setattr__(self, "transform", t)
        object.__setattr__(
            self, "crs", str(self.crs) if not hasattr(self.crs, "to_wkt") else self.crs.to_wkt()
        )

    @cached_property
    def _crs(self) -> Any:
        from pyproj import CRS

        return CRS.from_user_input(self.crs)

    @cached_property
    def kind(self) -> str:
        """``"mercator"`` (EPSG:3857), ``"geographic"`` or ``"projected"``."""
        if self._crs.is_geographic:
            return "geographic"
        if self._crs.to_epsg() == 3857:
            return "mercator"
        return "projected"

    @cached_property
    def _ellipsoid(self) -> tuple[float, float]:
        ell = self._crs.ellipsoid
        return float(ell.semi_major_metre), float(ell.inverse_flattening or 0.0)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """km² of one pixel in each row ``start .. stop - 1``."""
        a, _, _, _, e, f = self.transform
        edges = f + e * np.arange(start, stop + 1, dtype=np.float64)
        if self.kind == "mercator":
            radius = 6378137.0  # EPSG:3857 projects on the sphere of the WGS84 semi-major axis
            lat = np.degrees(np.arctan(np.sinh(edges / radius)))
            dlon = abs(a) / radius
        elif self.kind == "geographic":
            lat = edges
            dlon = math.radians(abs(a))
        else:
            return self._projected(start, stop)
        z = zone_area(lat, *self._ellipsoid)
        return np.abs(np.diff(z)) * dlon / 1e6

    def _projected(self, start: int, stop: int) -> np.ndarray:
        from pyproj import Proj, Transformer

        a, _, c, _, e, f = self.transform
        y = f + e * (np.arange(start, stop, dtype=np.float64) + 0.5)
        x = np.full_like(y, c + a * self.width / 2)
        to_geo = Transformer.from_crs(self._crs, self._crs.geodetic_crs, always_xy=True)
        lon, lat = to_geo.transform(x, y)
        scale = Proj(self._crs).get_factors(lon, lat).areal_scale
        return abs(a * e) / np.asarray(scale, dtype=np.float64) / 1e6

    def total(self, height: int) -> float:
        """km² of the whole grid of ``height`` rows and ``width`` columns."""
        return float(self.rows(0, height).sum() * self.width)

    @classmethod
    def of(cls, da: Any) -> PixelAreas:
        """The pixel areas of a rioxarray-georeferenced DataArray."""
        crs = da.rio.crs
        if crs is None:
            raise MissingCRSError(
                f"Array {da.name!r} has no CRS: pixel areas need one; write it with rio.write_crs."
            )
        return cls(da.rio.transform(), crs, width=int(da.sizes["x"]))


def row_areas(transform: Any, crs: Any, height: int, width: int = 1) -> np.ndarray:
    """km² of one pixel of each of ``height`` rows (a shortcut for :class:`PixelAreas`)."""
    return PixelAreas(transform, crs, width).rows(0, height)
