"""One quad of a global run: domain check, read with a halo from its neighbours, predict, derive, write.

:func:`process_quad` never raises for a bad quad: it returns the quad's status
(``done``, ``no_reef``, ``nodata``, ``out_of_domain``, ``corrupt`` with the error,
``missing``). The tile it predicts is the focal quad plus ``halo`` pixels of its 8
neighbours (padded with nodata where a neighbour does not exist), so with a halo of at
least the model's receptive field the products along quad borders equal those of the
same model run over a mosaic of the quads: no seams. Sources finer than the run's quad
size are downsampled with the model contract's one rule
(:func:`reefdask.model.resample.downsample`: the pixels ``reefdask clean`` writes for
training). The model runs through the inference engine's own pieces (per-process model
cache keyed by fingerprint, the card's :class:`~reefdask.model.preprocess.Preprocessing`,
tile/window strategies); several members are averaged (an ensemble).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from reefdask.core.grid import Quad
from reefdask.errors import InputNotFoundError
from reefdask.globalmap.mapstore import NODATA, MapStore
from reefdask.model.resample import RESAMPLING, downsample
from reefdask.work import ClaimLostError

if TYPE_CHECKING:
    from reefdask.io.store import Store

__all__ = ["Member", "RunSpec", "QuadTask", "QuadResult", "process_quad", "predict_quad", "derive_products"]


@dataclass(frozen=True)
class Member:
    """One model of the run: where it is, its fingerprint, preprocessing and tile geometry."""

    url: str
    key: str  # weights digest (model cache key)
    fingerprint: str  # weights + preprocessing
    preprocessing: dict[str, Any]
    halo: int
    stride: int = 1
    strategy: str = "tiles"  # "tiles" | "centre" | "blend"
    window: int | None = None
    step: int | None = None
    batch_size: int = 8


@dataclass(frozen=True)
class RunSpec:
    """What every quad task of a run shares (small: travels to Dask workers)."""

    map_store: Store  # the run's map.zarr
    members: tuple[Member, ...]
    schema: dict[str, Any]
    quad_size: int
    halo: int
    products: tuple[str, ...]
    reef_decision: dict[str, Any] | None = None
    storage_options: dict[str, Any] | None = None
    weights: tuple[float, ...] | None = None


@dataclass(frozen=True)
class QuadTask:
    """One quad: its source, its neighbours' sources (``"dx,dy"`` -> URL), inside the domain or not."""

    quad: str
    source: str
    neighbours: dict[str, str] = field(default_factory=dict)
    in_domain: bool = True


@dataclass(frozen=True)
class QuadResult:
    """The outcome of one quad."""

    quad: str
    status: str
    error: str | None = None
    seconds: float = 0.0
    computed: bool = False


def process_quad(task: QuadTask, spec: RunSpec, fence: Callable[[], None] | None = None) -> QuadResult:
    """Map one quad and return its status; bad inputs become statuses, not exceptions.

    ``fence`` (the job's claim check, :class:`~reefdask.work.Fence` on a Dask worker) runs
    right before the products are written; when the claim is lost it raises
    :class:`~reefdask.work.ClaimLostError` and nothing is written.
    """
    t0 = time.perf_counter()

    def result(status: str, error: str | None = None, computed: bool = False) -> QuadResult:
        return QuadResult(task.quad, status, error, time.perf_counter() - t0, computed)

    if not task.in_domain:
        return result("out_of_domain")
    try:
        raw, nodata = read_tile(task, spec)
    except (InputNotFoundError, FileNotFoundError) as err:
        return result("missing", f"{type(err).__name__}: {err}")
    except Exception as err:
        return result("corrupt", f"{type(err).__name__}: {err}")
    try:
        probs, valid = predict_quad(raw, nodata, spec)
        if probs is None:
            return result("nodata")
        products = derive_products(probs, valid, spec)
        if not (products["outline"] == 1).any():
            return result("no_reef", computed=True)
        if fence is not None:
            fence()
        MapStore(spec.map_store).write(
            Quad.parse(task.quad), {k: v for k, v in products.items() if k in spec.products}
        )
    except ClaimLostError:
        raise  # another job holds the quad now: this one writes and records nothing
    except Exception as err:  # a failure of this quad only: keep it and go on
        return result("corrupt", f"processing failed: {type(err).__name__}: {err}")
    return result("done", computed=True)


def read_tile(task: QuadTask, spec: RunSpec) -> tuple[np.ndarray, float | None]:
    """The focal quad plus ``spec.halo`` px of its neighbours, ``(band, s + 2h, s + 2h)``.

    Pixels without a neighbour are nodata. A neighbour that cannot be read is nodata
    too (it is the focal quad's status that counts).
    """
    s, h = spec.quad_size, spec.halo
    focal, nodata = _read(task.source, 0, s, 0, s, s, spec.storage_options)
    fill = 0 if nodata is None else nodata  # NaN nodata pads float imagery with NaN: nodata, not 0
    tile = np.full((focal.shape[0], s + 2 * h, s + 2 * h), fill, dtype=focal.dtype)
    tile[:, h : h + s, h : h + s] = focal
    if h == 0:
        return tile, nodata
    for offset, url in task.neighbours.items():
        dx, dy = (int(v) for v in offset.split(","))
        # neighbour pixel rows/cols in focal coordinates (rows grow southward)
        r0, c0 = -dy * s, dx * s
        rr = (max(r0, -h), min(r0 + s, s + h))
        cc = (max(c0, -h), min(c0 + s, s + h))
        if rr[0] >= rr[1] or cc[0] >= cc[1]:
            continue
        try:
            block, _ = _read(url, rr[0] - r0, rr[1] - r0, cc[0] - c0, cc[1] - c0, s, spec.storage_options)
        except Exception:
            continue
        tile[:, rr[0] + h : rr[1] + h, cc[0] + h : cc[1] + h] = block
    return tile, nodata


def _read(
    url: str, r0: int, r1: int, c0: int, c1: int, size: int, storage_options: dict[str, Any] | None
) -> tuple[np.ndarray, float | None]:
    """Rows ``r0:r1`` and cols ``c0:c1`` of a quad at ``size`` px a side (block-averaged if finer)."""
    from reefdask.core.nodata import get_nodata
    from reefdask.io.rasters import open_imagery

    da = open_imagery(url, chunks=4096, storage_options=storage_options)
    nodata = get_nodata(da)
    n = int(da.sizes["y"])
    if n == size:
        return _compute(da[:, r0:r1, c0:c1]), nodata
    f, rem = divmod(n, size)
    if rem or da.sizes["x"] != n:
        raise ValueError(f"{url} is {n} px a side; the run's quad_size {size} must divide it.")
    block = _compute(da[:, r0 * f : r1 * f, c0 * f : c1 * f])
    return downsample(block, f, RESAMPLING, nodata), nodata  # the pixels `reefdask clean` writes


def _compute(da: Any) -> np.ndarray:
    """Read a lazy window in this thread (a read error surfaces here, for this quad)."""
    data = da.data
    return np.asarray(data.compute(scheduler="sync") if hasattr(data, "compute") else data)


def predict_quad(
    raw: np.ndarray, nodata: float | None, spec: RunSpec
) -> tuple[np.ndarray | None, np.ndarray]:
    """Mean class probabilities ``(s, s, class)`` of the members over the focal quad.

    Returns ``(None, valid)`` without running any model when the focal quad is all nodata.
    """
    from reefdask.core.nodata import valid_mask_array
    from reefdask.globalmap.ensemble import mean_probabilities, member_probabilities

    s, h = spec.quad_size, spec.halo
    focal_valid = np.asarray(valid_mask_array(raw[:, h : h + s, h : h + s], nodata))
    if not focal_valid.any():
        return None, focal_valid
    probs = [member_probabilities(m, raw, nodata, s, h, spec.storage_options) for m in spec.members]
    return mean_probabilities(probs, spec.weights), focal_valid


def derive_products(probs: np.ndarray, valid: np.ndarray, spec: RunSpec) -> dict[str, np.ndarray]:
    """Products of one quad from ``(y, x, class)`` probabilities; 255 where the input was nodata.

    ``probabilities`` (percent per detailed class), ``coarse`` (percent per coarse group:
    sums of detailed probabilities), ``classes`` (coarse code of the most probable group),
    ``heat`` (reef group percent), ``outline`` (1 reef, 0 not: the run's reef decision --
    a threshold on the reef probability or a fitted logistic decision from the model card,
    see :mod:`reefdask.model.decision` -- else the reef group is the most probable).
    """
    from reefdask.core.classes import ClassSchema

    schema = ClassSchema.from_dict(spec.schema)
    groups = probs @ schema.group_matrix("coarse").T  # (y, x, group)
    codes = np.asarray(schema.level_codes("coarse"), dtype="uint8")
    reef = list(codes).index(schema.code_of("reef", "coarse"))

    def pct(a: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(a * 100.0), 0, 100).astype("uint8")

    top = np.argmax(groups, axis=-1)
    if spec.reef_decision is None:
        outline = (top == reef).astype("uint8")
    else:
        from reefdask.model.decision import apply_decision

        outline = apply_decision(spec.reef_decision, probs, schema).astype("uint8")
    out = {
        "probabilities": np.moveaxis(pct(probs), -1, 0),
        "coarse": np.moveaxis(pct(groups), -1, 0),
        "classes": codes[top],
        "heat": pct(groups[..., reef]),
        "outline": outline,
    }
    for a in out.values():
        a[..., ~valid] = NODATA
    return out
