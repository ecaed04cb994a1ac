"""Sampling boundaries: where training windows may be drawn (non-land, buffered).

The reference practice drew samples only inside the non-land area of the labels
buffered by 64 m. :func:`sampling_boundary` does it with an exact Euclidean distance
(``scipy.ndimage.distance_transform_edt``): a pixel is inside when its centre is within
``buffer_m`` metres of the centre of a valid, non-land label pixel.

Quads are not islands: :func:`with_margin` borrows a margin of rows/columns from the 8
neighbouring label quads that exist, so a buffer crosses quad edges exactly as it would
on a mosaic.

Examples
--------
>>> import numpy as np
>>> labels = np.array([[1, 1, 1, 1, 3]], dtype="int16")      # land ... then deep water
>>> sampling_boundary(labels, land_codes=[1], pixel_size=10.0, buffer_m=20.0).tolist()
[[0, 0, 1, 1, 1]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reefdask.core.grid import Quad
from reefdask.core.nodata import LABEL_NODATA

__all__ = ["sampling_boundary", "with_margin", "margin_pixels"]


def margin_pixels(buffer_m: float, pixel_size: float) -> int:
    """Pixels of neighbour margin needed for a buffer of ``buffer_m`` metres."""
    return math.ceil(buffer_m / pixel_size)


def sampling_boundary(
    labels: np.ndarray, land_codes: Sequence[int], pixel_size: float, buffer_m: float = 64.0
) -> np.ndarray:
    """``uint8`` mask: 1 within ``buffer_m`` of valid non-land labels, else 0."""
    from scipy.ndimage import distance_transform_edt

    non_land = (labels != LABEL_NODATA) & ~np.isin(labels, list(land_codes))
    if not non_land.any():
        return np.zeros(labels.shape, dtype="uint8")
    if buffer_m <= 0:
        return non_land.astype("uint8")
    distance = distance_transform_edt(~non_land) * pixel_size
    return (distance <= buffer_m + 1e-9).astype("uint8")


def with_margin(path: str | Path, quad: Quad, folder: str | Path, margin: int) -> np.ndarray:
    """The label quad at ``path`` padded by ``margin`` pixels read from its neighbours.

    Neighbours are ``<folder>/<neighbour id>.tif`` on the same grid; missing ones (and the
    world's edges) pad with nodata.
    """
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(path) as ds:
        own = ds.read(1)
    h, w = own.shape
    m = min(margin, h, w)
    out = np.full((h + 2 * m, w + 2 * m), LABEL_NODATA, dtype=own.dtype)
    out[m : m + h, m : m + w] = own
    if m == 0:
        return out
    for dy in (1, 0, -1):
        for dx in (-1, 0, 1):
            if dx == dy == 0 or not 0 <= quad.y + dy < quad.quads_per_side:
                continue
            other = Path(folder) / f"{quad.offset(dx, dy).id}.tif"
            if not other.exists():
                continue
            cols = {-1: (w - m, w), 0: (0, w), 1: (0, m)}[dx]  # window in the neighbour
            rows = {1: (h - m, h), 0: (0, h), -1: (0, m)}[dy]  # north is up: rows grow southward
            with rasterio.open(other) as ds:
                if ds.shape != (h, w):
                    continue
                block = ds.read(1, window=Window(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0]))
            r0 = {1: 0, 0: m, -1: m + h}[dy]
            c0 = {-1: 0, 0: m, 1: m + w}[dx]
            out[r0 : r0 + block.shape[0], c0 : c0 + block.shape[1]] = block
    return out
