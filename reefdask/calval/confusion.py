"""Confusion matrices out of core: blockwise counting, then a tree reduction.

Rows are the **reference** class, columns the **predicted** class (scikit-learn's
convention). Pixels whose reference or prediction is not one of ``labels`` (nodata,
undeclared codes, NaN) or that fall outside ``mask`` are excluded and counted in
:attr:`Confusion.excluded`.

Each block is counted in slabs of about 2**18 pixels: both maps go through a lookup
table to class indices, ``ref_index * (n + 1) + pred_index`` is histogrammed with
``np.bincount``, so no temporary is larger than a slab and nothing is scene-sized.
With :class:`~reefdask.calval.area.PixelAreas`, each slab is also counted per row and
weighted with the ground area of that row, giving the matrix in km².
``np.bincount`` holds the GIL: run on worker processes (a LocalCluster or SLURM
workers), not many threads, to count in parallel.

Examples
--------
>>> import numpy as np
>>> ref = np.array([[1, 1, 2, 255]], dtype="uint8")
>>> pred = np.array([[1, 2, 2, 1]], dtype="uint8")
>>> cm = confusion(ref, pred, labels=[1, 2])
>>> cm.counts.tolist(), cm.excluded
([[1, 1], [0, 1]], 1)
>>> import dask.array as dsa
>>> confusion(dsa.from_array(ref, chunks=2), dsa.from_array(pred, chunks=2), [1, 2]).counts.tolist()
[[1, 1], [0, 1]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reefdask.errors import ReefdaskError

__all__ = ["Confusion", "confusion", "count_block"]

_SLAB = 1 << 20  # pixels per slab: temporaries stay small (8 MB)


@dataclass(frozen=True)
class Confusion:
    """A confusion matrix (rows reference, columns prediction) and, optionally, its areas."""

    labels: tuple[int, ...]
    counts: np.ndarray  # (n, n) int64 pixels
    excluded: int  # pixels left out: nodata, undeclared codes, outside the mask
    area: np.ndarray | None = None  # (n, n) float64 km², when pixel areas were given

    def __add__(self, other: Confusion) -> Confusion:
        if self.labels != other.labels:
            raise ReefdaskError(
                f"Cannot add confusion matrices over labels {self.labels} and {other.labels}."
            )
        area = None if self.area is None or other.area is None else self.area + other.area
        return Confusion(self.labels, self.counts + other.counts, self.excluded + other.excluded, area)

    @property
    def total(self) -> int:
        """Pixels counted (excluding nodata)."""
        return int(self.counts.sum())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        d: dict[str, Any] = {
            "labels": list(self.labels),
            "counts": self.counts.tolist(),
            "excluded": self.excluded,
        }
        if self.area is not None:
            d["area_km2"] = self.area.tolist()
        return d

    def _repr_html_(self) -> str:
        from reefdask.calval.reprs import confusion_html

        return confusion_html(self)


def _lut(labels: np.ndarray, dtype: np.dtype, scale: int, n: int) -> tuple[np.ndarray, int] | None:
    """Table value->``class_index * scale`` (``n * scale`` for others) for small integer dtypes."""
    if dtype.kind not in "biu" or dtype.itemsize > 2:
        return None
    info = np.iinfo(dtype) if dtype.kind != "b" else None
    lo = 0 if info is None else int(info.min)
    size = 2 if info is None else int(info.max) - lo + 1
    table = np.full(size, n * scale, dtype=np.intp)
    top = lo + size - 1
    for i, code in enumerate(labels):
        if lo <= code <= top:
            table[int(code) - lo] = i * scale
    return table, lo


def _indexer(labels: np.ndarray, dtype: np.dtype, scale: int, n: int) -> Any:
    """A function ``(values, out) -> class index * scale`` (``n * scale`` for values not in labels)."""
    found = _lut(labels, dtype, scale, n)
    if found is not None:
        table, lo = found
        if lo:
            return lambda a, out: np.take(table, a.astype(np.intp) - lo, out=out)
        return lambda a, out: np.take(table, a, out=out)
    order = np.argsort(labels)
    srt = labels[order]

    def search(a: np.ndarray, out: np.ndarray) -> np.ndarray:
        pos = np.clip(np.searchsorted(srt, a), 0, len(srt) - 1)
        np.multiply(np.where(srt[pos] == a, order[pos], n), scale, out=out)
        return out

    return search


def count_block(
    ref: np.ndarray,
    pred: np.ndarray,
    labels: Sequence[int],
    mask: np.ndarray | None = None,
    row_area: np.ndarray | None = None,
) -> np.ndarray:
    """Count one block: ``(2, n + 1, n + 1)`` float64, pixels then km² (zeros without areas).

    Index ``n`` collects excluded pixels. ``row_area`` holds the km² of one pixel of
    each of the block's rows. Two uint8 maps take a fast path: ``ref * 256 + pred`` is
    histogrammed into 65,536 bins and folded onto the classes once per block.
    """
    lab = np.asarray(labels, dtype=np.int64)
    n = len(lab)
    n1 = n + 1
    ref = np.asarray(ref)
    pred = np.asarray(pred)
    if ref.ndim == 1:
        ref, pred = ref[None], pred[None]
        mask = None if mask is None else np.asarray(mask)[None]
    h, w = ref.shape
    out = np.zeros((2, n1, n1), dtype=np.float64)
    if h == 0 or w == 0:
        return out
    k2 = n1 * n1
    pair = ref.dtype == np.uint8 and pred.dtype == np.uint8
    if pair:  # (ref << 8 | pred) -> ref_index * (n + 1) + pred_index
        rt = _lut(lab, ref.dtype, n1, n)[0]  # type: ignore[index]
        pt = _lut(lab, pred.dtype, 1, n)[0]  # type: ignore[index]
        table = (rt[:, None] + pt[None, :]).ravel()
        raw = np.zeros(65536, dtype=np.int64) if mask is None and row_area is None else None
    else:
        ref_index, pred_index = _indexer(lab, ref.dtype, n1, n), _indexer(lab, pred.dtype, 1, n)
    rows = max(1, _SLAB // max(w, 1))
    buf = np.empty(rows * w, dtype=np.intp)
    tmp = np.empty(rows * w, dtype=np.intp)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        m = (r1 - r0) * w
        r, p = np.ascontiguousarray(ref[r0:r1]).ravel(), np.ascontiguousarray(pred[r0:r1]).ravel()
        code = buf[:m]
        if pair:
            np.multiply(r, 256, out=code, dtype=np.intp)
            np.add(code, p, out=code)
            if raw is not None:
                raw += np.bincount(code, minlength=65536)
                continue
            np.take(table, code, out=code)
        else:
            ref_index(r, code)
            code += pred_index(p, tmp[:m])
        if mask is not None:
            keep = np.asarray(mask[r0:r1], dtype=bool).ravel()
            code[~keep] = n * n1 + n
        if row_area is None:
            out[0] += np.bincount(code, minlength=k2).reshape(n1, n1)
            continue
        code2 = code.reshape(r1 - r0, w)
        code2 += (np.arange(r1 - r0, dtype=np.intp) * k2)[:, None]
        per_row = np.bincount(code, minlength=(r1 - r0) * k2).reshape(r1 - r0, k2)
        out[0] += per_row.sum(axis=0).reshape(n1, n1)
        out[1] += (np.asarray(row_area[r0:r1], dtype=np.float64) @ per_row).reshape(n1, n1)
    if pair and raw is not None:
        out[0] = np.bincount(table, weights=raw, minlength=k2).reshape(n1, n1)
    return out


def _block_kernel(
    ref: Any, pred: Any, *rest: Any, labels: Any, has_mask: bool, areas: Any, block_info: Any = None
) -> Any:
    mask = rest[0] if has_mask else None
    row_area = None
    if areas is not None:
        r0, r1 = block_info[0]["array-location"][0]
        row_area = areas.rows(r0, r1)
    return count_block(ref, pred, labels, mask, row_area)[None, None]


def _unwrap(a: Any) -> Any:
    return getattr(a, "data", a) if type(a).__module__.startswith("xarray") else a


def confusion(
    ref: Any,
    pred: Any,
    labels: Sequence[int],
    *,
    mask: Any = None,
    areas: Any = None,
    split_every: int = 16,
) -> Confusion:
    """Confusion matrix of two class maps (NumPy, Dask or xarray, shaped ``(y, x)``).

    Parameters
    ----------
    ref, pred
        Reference and predicted codes of the same shape. Values outside ``labels``
        (nodata such as 255 or -9999, NaN) are excluded.
    labels
        Class codes, in matrix order.
    mask
        Optional boolean array: only True pixels count (e.g. a site polygon).
    areas
        Optional :class:`~reefdask.calval.area.PixelAreas` of the grid (rows from 0):
        adds :attr:`Confusion.area` in km².
    split_every
        Fan-in of Dask's tree reduction.
    """
    ref, pred, mask = _unwrap(ref), _unwrap(pred), _unwrap(mask)
    labs = tuple(int(v) for v in labels)
    if len(set(labs)) != len(labs) or not labs:
        raise ReefdaskError(f"labels {labs} must be a non-empty list of distinct class codes.")
    if tuple(np.shape(ref)) != tuple(np.shape(pred)) or (
        mask is not None and np.shape(mask) != np.shape(ref)
    ):
        raise ReefdaskError(
            f"Reference {np.shape(ref)}, prediction {np.shape(pred)} and mask "
            f"{None if mask is None else np.shape(mask)} must have one shape; align the grids first."
        )
    lazy = any(type(a).__module__.startswith("dask") for a in (ref, pred, mask) if a is not None)
    if not lazy:
        row_area = None if areas is None else areas.rows(0, np.shape(ref)[0])
        full = count_block(ref, pred, labs, mask, row_area)
    else:
        full = _count_dask(ref, pred, labs, mask, areas, split_every)
    n = len(labs)
    counts = np.rint(full[0, :n, :n]).astype(np.int64)
    excluded = round(float(full[0].sum())) - int(counts.sum())
    area = None if areas is None else full[1, :n, :n].copy()
    return Confusion(labs, counts, excluded, area)


def _count_dask(
    ref: Any, pred: Any, labs: tuple[int, ...], mask: Any, areas: Any, split_every: int
) -> np.ndarray:
    import dask.array as dsa

    ref = dsa.asarray(ref)
    if ref.ndim != 2:
        raise ReefdaskError(f"Class maps must be 2-D (y, x), not {ref.ndim}-D; select one band first.")
    pred = dsa.asarray(pred).rechunk(ref.chunks)
    args = [ref, pred]
    if mask is not None:
        args.append(dsa.asarray(mask).rechunk(ref.chunks))
    n1 = len(labs) + 1
    per_block = dsa.map_blocks(
        _block_kernel,
        *args,
        labels=labs,
        has_mask=mask is not None,
        areas=areas,
        dtype=np.float64,
        new_axis=[2, 3, 4],
        chunks=((1,) * ref.numblocks[0], (1,) * ref.numblocks[1], (2,), (n1,), (n1,)),
        token="calval-confusion",
    )
    return np.asarray(per_block.sum(axis=(0, 1), split_every=split_every).compute())
