"""Seeded synthetic reef scenes on the real quad grid (SYNTHETIC data: never real imagery).

Every field is a function of world coordinates (EPSG:3857 metres): value noise on global
lattices whose node values hash the lattice indices with the seed, interpolated with
elementwise IEEE arithmetic only. A pixel's value therefore depends on its world
position, the pixel size and the seed, not on which quad or window is rendered: quads
rendered one by one equal one rendering of the block, bit for bit (no seams).

Scenes: a "height" field makes platforms ringed by forereef slopes and reef flats,
with lagoons (and pinnacles) inside and islands on top (beach, vegetation, ponds); reef
flats, sand and seagrass share colours and differ in texture and context. Then haze,
clouds with offset shadows, sensor noise and no-data patches (alpha 0, labels -9999).
Supplementary land / water come as square "hand-drawn" cells.

``kind`` per quad: ``"auto"`` (the above), ``"no_reef"`` (all deep water: labels 3, no
cloud, no nodata), ``"land"`` (all land: labels 1, no cloud, no nodata). Forced kinds
do not join their neighbours seamlessly.

Examples
--------
>>> from reefdask.grid import Quad
>>> rgba, labels = synth_scene(Quad.parse("L15-0525E-1122N"), size=64, seed=1)
>>> rgba.shape, rgba.dtype.name, labels.dtype.name
((4, 64, 64), 'uint8', 'int16')
>>> bool((synth_scene(Quad.parse("L15-0525E-1122N"), size=64, seed=1)[0] == rgba).all())
True
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reefdask.errors import ConfigError
from reefdask.grid import HALF_WORLD, Quad
from reefdask.nodata import LABEL_NODATA
from reefdask.worldnoise import cell_values, fbm, pixel_noise, seed_key

__all__ = [
    "KINDS",
    "DEFAULT_ORIGIN",
    "SyntheticQuad",
    "default_quads",
    "synth_scene",
    "synth_block",
    "synth_quads",
    "write_corrupt_quad",
]

#: what a quad can be forced to be
KINDS = ("auto", "no_reef", "land")
#: north-west quad of the default block: next to Lighthouse Reef, Belize
DEFAULT_ORIGIN = "L15-0525E-1123N"
DESCRIPTION = "SYNTHETIC reefdask test scene (generated, not real imagery)"

_F = np.float32
_STRIP = 256  # rows rendered at once: bounds memory for 4096 px quads

# height thresholds (quantiles of the height field, see module docs)
_T_SLOPE, _T_FLAT, _T_LAGOON, _T_BEACH, _T_LAND = 0.38, 0.45, 0.57, 0.78, 0.80


# -- scene -------------------------------------------------------------------------
# bottom colours per class code (dark end, bright end), blended by texture
_ENDS = {
    1: ((35, 75, 35), (95, 125, 60)),
    2: ((20, 45, 50), (60, 110, 100)),
    3: ((10, 38, 85), (16, 48, 98)),
    4: ((120, 128, 95), (232, 224, 196)),
    5: ((95, 85, 70), (225, 212, 180)),
    6: ((95, 85, 70), (235, 226, 198)),
    7: ((110, 118, 80), (228, 218, 190)),
    8: ((80, 75, 62), (210, 198, 168)),
    9: ((105, 95, 78), (235, 226, 198)),
    10: ((45, 80, 55), (230, 222, 195)),
    11: ((150, 140, 115), (225, 215, 185)),
    15: ((140, 120, 90), (185, 160, 120)),
}
_ENDS[12], _ENDS[13] = _ENDS[1], _ENDS[3]
_DARK = np.zeros((3, 16), _F)
_BRIGHT = np.zeros((3, 16), _F)
for _c, (_d, _b) in _ENDS.items():
    _DARK[:, _c], _BRIGHT[:, _c] = _d, _b


def _mixc(a: Sequence[float], b: Sequence[float], t: np.ndarray) -> np.ndarray:
    """Blend colours ``a`` -> ``b`` by ``t`` (``(y, x)``) into ``(3, y, x)``."""
    a3 = np.asarray(a, _F)[:, None, None]
    b3 = np.asarray(b, _F)[:, None, None]
    return a3 + (b3 - a3) * t[None]


def _strip(gx: np.ndarray, gy: np.ndarray, px: float, seed: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    xs = -HALF_WORLD + (gx + 0.5) * px
    ys = HALF_WORLD - (gy + 0.5) * px
    k = [seed_key(seed, s) for s in range(16)]
    shape = (ys.size, xs.size)
    h = fbm(xs, ys, (9000, 4500, 2200, 1100, 550), k[1], 2.4)
    if kind != "auto":
        h = np.full(shape, _F(0.0 if kind == "no_reef" else 1.0))
    reef = fbm(xs, ys, (2500, 1200), k[2])
    sand = fbm(xs, ys, (900, 450), k[3])
    var = fbm(xs, ys, (700, 350), k[4])
    pin = fbm(xs, ys, (360, 180), k[5], 2.6)
    pond = fbm(xs, ys, (700, 350), k[6], 2.6)
    tex = fbm(xs, ys, (240, 120, 60), k[7], 2.6)
    haze = fbm(xs, ys, (7000,), k[8], 1.0)

    slope = (h >= _T_SLOPE) & (h < _T_FLAT)
    flat = (h >= _T_FLAT) & (h < _T_LAGOON)
    hl = h + _F(0.25) * (fbm(xs, ys, (3000, 1500), k[13]) - _F(0.5))  # islands sit off-centre
    lagoon = (h >= _T_LAGOON) & (hl < _T_BEACH)
    beach = (h >= _T_LAGOON) & (hl >= _T_BEACH) & (hl < _T_LAND)
    land = (h >= _T_LAGOON) & (hl >= _T_LAND)
    isreef = reef > _F(0.42)
    lab = np.full(shape, 3, np.int16)
    lab[slope] = np.where(isreef, 5, 11)[slope]
    flat_reef = np.where(sand > _F(0.75), 9, np.where(var > _F(0.55), 7, 6))
    lab[flat] = np.where(isreef, flat_reef, np.where(sand > _F(0.5), 9, 10))[flat]
    lab[lagoon] = np.where(pin > _F(0.92), 8, np.where(sand > _F(0.72), 9, 4))[lagoon]
    lab[beach] = 9
    lab[land] = np.where((pond > _F(0.9)) & (kind == "auto"), 2, 1)[land]
    supp = (cell_values(xs, ys, 2600, k[9]) < _F(0.12)) & (kind == "auto")
    lab[supp & (lab == 1)] = 12
    lab[supp & (lab == 3)] = 13

    # depth 0 (surface) .. 1 (optically deep) and bottom colour, per class
    depth = np.ones(shape, _F)
    depth = np.where(slope, _F(1) - _F(0.8) * (h - _F(_T_SLOPE)) / _F(_T_FLAT - _T_SLOPE), depth)
    depth = np.where(flat | beach, _F(0.08) + _F(0.1) * var, depth)
    depth = np.where(lagoon, _F(0.25) + _F(0.3) * var, depth)
    depth = np.where(lab == 8, _F(0.1), np.where(land, _F(0), depth))
    look = np.where(land & (lab != 2) & (sand > _F(0.7)), 15, lab)  # 15: bare soil on land
    t = np.where((look == 9) | (look == 11), _F(0.45) + _F(0.5) * sand, tex)  # smooth, not mottled
    t = np.where(look == 10, np.clip(_F(1.6) * tex - _F(0.3), _F(0), _F(1)), t)
    t = np.where(look == 4, _F(0.2) + _F(0.6) * var, t)
    lo, hi = _DARK[:, look], _BRIGHT[:, look]
    rgb = lo + (hi - lo) * t[None]
    water = _mixc((55, 170, 185), (12, 40, 88), depth)
    a = np.where(land & (lab != 2), _F(0), _F(0.2) + _F(0.8) * depth)
    rgb = rgb + (water - rgb) * a[None]
    rgb = rgb * (_F(0.88) + _F(0.24) * haze)[None] + _F(12) * haze[None]

    if kind == "auto":
        cover = fbm(xs, ys, (4000, 2000, 1000, 500), k[10], 1.2)
        shade = fbm(xs + 700.0, ys - 500.0, (4000, 2000, 1000, 500), k[10], 1.2)
        op = np.clip((cover - _F(0.70)) * _F(10), _F(0), _F(1))
        sh = np.clip((shade - _F(0.70)) * _F(10), _F(0), _F(1))
        rgb = rgb * (_F(1) - _F(0.45) * sh * (_F(1) - op))[None]
        rgb = rgb + (_mixc((215, 218, 225), (250, 250, 252), tex) - rgb) * op[None]
        lab[op > _F(0.5)] = 14
        nodata = fbm(xs, ys, (6000, 3000), k[11], 1.2) > _F(0.88)
    else:
        nodata = np.zeros(shape, bool)
    rgb = rgb + _F(5) * pixel_noise(gx, gy, k[12])
    out = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    alpha = np.where(nodata, 0, 255).astype(np.uint8)
    out[:, nodata] = 0
    lab[nodata] = LABEL_NODATA
    return np.concatenate([out, alpha[None]]), lab


def _render(gx0: int, gy0: int, width: int, height: int, px: float, seed: int, kind: str):
    """Render global pixels ``[gy0, gy0 + height) x [gx0, gx0 + width)`` (rows from the north)."""
    if kind not in KINDS:
        raise ConfigError(f"Synthetic quad kind {kind!r} is unknown; use one of {list(KINDS)}.")
    rgba = np.empty((4, height, width), np.uint8)
    labels = np.empty((height, width), np.int16)
    gx = np.arange(gx0, gx0 + width, dtype=np.int64)
    for r0 in range(0, height, _STRIP):
        gy = np.arange(gy0 + r0, gy0 + min(r0 + _STRIP, height), dtype=np.int64)
        rgba[:, r0 : r0 + gy.size], labels[r0 : r0 + gy.size] = _strip(gx, gy, px, seed, kind)
    return rgba, labels


# -- public API ----------------------------------------------------------------------
def _check(size: int, kind: str) -> None:
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 8:
        raise ConfigError(f"Synthetic quad size {size!r} must be an integer >= 8 pixels; try 512.")
    if kind not in KINDS:
        raise ConfigError(f"Synthetic quad kind {kind!r} is unknown; use one of {list(KINDS)}.")


def synth_block(
    origin: Quad | str, *, cols: int = 1, rows: int = 1, size: int = 512, seed: int = 0, kind: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Render ``rows x cols`` quads, ``origin`` at the north-west, as one mosaic.

    Returns ``(rgba (4, rows*size, cols*size) uint8, labels (rows*size, cols*size) int16)``;
    its transform is ``origin.transform(size=size)``. Equal, bit for bit, to the quads
    rendered one by one with :func:`synth_scene` (for ``kind="auto"``).
    """
    q = Quad.parse(origin) if isinstance(origin, str) else origin
    _check(size, kind)
    if cols < 1 or rows < 1 or q.x + cols > q.quads_per_side or q.y - rows + 1 < 0:
        raise ConfigError(f"A block of {rows} x {cols} quads from {q.id} leaves the grid; make it smaller.")
    gx0 = q.x * size
    gy0 = (q.quads_per_side - 1 - q.y) * size
    return _render(gx0, gy0, cols * size, rows * size, q.side / size, int(seed), kind)


def synth_scene(
    quad: Quad | str, *, size: int = 512, seed: int = 0, kind: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Render one quad: ``(rgba (4, size, size) uint8, labels (size, size) int16)``.

    Deterministic in ``(quad, size, seed, kind)``; labels are default-schema codes with
    nodata ``-9999`` where alpha is 0. The pixel is ``quad.side / size`` metres.
    """
    return synth_block(quad, size=size, seed=seed, kind=kind)


@dataclass(frozen=True)
class SyntheticQuad:
    """A written synthetic quad: its grid cell and the paths of its image and label files."""

    quad: Quad
    image: str
    label: str
    kind: str = "auto"


def default_quads(n: int, origin: Quad | str | None = None) -> list[Quad]:
    """``n`` quads in a compact block (rows north to south, columns west to east) from ``origin``."""
    if n < 1:
        raise ConfigError(f"Asked for {n} synthetic quads; ask for at least 1.")
    q = Quad.parse(origin or DEFAULT_ORIGIN) if not isinstance(origin, Quad) else origin
    cols = math.ceil(math.sqrt(n))
    return [q.offset(i % cols, -(i // cols)) for i in range(n)]


def _profile(size: int, quad: Quad, *, count: int, dtype: str, nodata: float | None) -> dict:
    block = next((b for b in (256, 128, 64, 32, 16) if size % b == 0 and b < size), None)  # tiled when it can
    prof = dict(
        driver="GTiff",
        width=size,
        height=size,
        count=count,
        dtype=dtype,
        crs="EPSG:3857",
        transform=quad.transform(size=size),
        compress="deflate",
        nodata=nodata,
    )
    if block:
        prof.update(tiled=True, blockxsize=block, blockysize=block)
    return prof


def _tags(quad: Quad, seed: int, size: int, kind: str) -> dict[str, str]:
    from reefdask import __version__

    return {
        "REEFDASK_SYNTHETIC": "1",
        "REEFDASK_SEED": str(seed),
        "REEFDASK_SIZE": str(size),
        "REEFDASK_KIND": kind,
        "REEFDASK_QUAD": quad.id,
        "REEFDASK_VERSION": __version__,
        "TIFFTAG_IMAGEDESCRIPTION": DESCRIPTION,
        "TIFFTAG_SOFTWARE": f"reefdask {__version__}",
    }


def _write(path: Path, arr: np.ndarray, profile: dict, tags: dict[str, str], *, rgba: bool) -> None:
    import rasterio
    from rasterio.enums import ColorInterp

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    extra = {"photometric": "RGB", "alpha": "YES"} if rgba else {}
    with rasterio.open(tmp, "w", **profile, **extra) as dst:
        dst.write(arr if arr.ndim == 3 else arr[None])
        dst.update_tags(**tags)
        if rgba:
            dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
            dst.descriptions = ("red", "green", "blue", "alpha")
        else:
            dst.descriptions = ("class",)
    os.replace(tmp, path)  # never a half-written quad under the final name


def synth_quads(
    outdir: str | os.PathLike,
    *,
    quads: int | Iterable[Quad | str] = 4,
    seed: int = 0,
    size: int = 512,
    region: str = "belize",
    origin: Quad | str | None = None,
    kind: str = "auto",
    kinds: Mapping[Quad | str, str] | None = None,
) -> list[SyntheticQuad]:
    """Write synthetic quads as the providers lay them out, with matching label files.

    ``outdir/imagery/<region>/L15-XXXXE-YYYYN.tif``: 4-band uint8 RGB + alpha, EPSG:3857,
    the quad's real transform at ``size`` px, DEFLATE, tiled; ``outdir/labels/<region>/...``:
    int16 default-schema codes, nodata -9999. Every file is tagged ``REEFDASK_SYNTHETIC=1``.
    ``quads`` is a count (a block from ``origin``, default :data:`DEFAULT_ORIGIN`) or a list;
    ``kinds`` forces single quads (``{"L15-0525E-1123N": "no_reef"}``), ``kind`` all others.
    """
    from reefdask.classes import default_schema

    todo = (
        default_quads(quads, origin)
        if isinstance(quads, int)
        else [Quad.parse(q) if isinstance(q, str) else q for q in quads]
    )
    forced = {(Quad.parse(k) if isinstance(k, str) else k): v for k, v in (kinds or {}).items()}
    schema = default_schema()
    root = Path(outdir)
    made = []
    for q in todo:
        k = forced.get(q, kind)
        rgba, labels = synth_scene(q, size=size, seed=seed, kind=k)
        tags = _tags(q, seed, size, k)
        image = root / "imagery" / region / f"{q.id}.tif"
        label = root / "labels" / region / f"{q.id}.tif"
        _write(image, rgba, _profile(size, q, count=4, dtype="uint8", nodata=None), tags, rgba=True)
        ltags = {
            **tags,
            "REEFDASK_CLASS_SCHEMA": schema.name,
            "REEFDASK_CLASS_FINGERPRINT": schema.fingerprint,
        }
        _write(
            label, labels, _profile(size, q, count=1, dtype="int16", nodata=LABEL_NODATA), ltags, rgba=False
        )
        made.append(SyntheticQuad(q, str(image), str(label), k))
    return made


def write_corrupt_quad(
    path: str | os.PathLike,
    quad: Quad | str = DEFAULT_ORIGIN,
    *,
    size: int = 256,
    seed: int = 0,
    keep: float = 0.5,
) -> str:
    """Write a synthetic quad truncated to ``keep`` of its bytes: a corrupt GeoTIFF.

    The header comes first in the file and survives, so the file opens and reports its
    profile (4 bands, EPSG:3857), but reading the pixels fails: the failure that real
    runs met and did not detect. Returns the path.
    """
    import rasterio
    import rasterio.shutil
    from rasterio.io import MemoryFile

    q = Quad.parse(quad) if isinstance(quad, str) else quad
    _check(size, "auto")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rgba, _ = synth_scene(q, size=size, seed=seed)
    profile = _profile(size, q, count=4, dtype="uint8", nodata=None)
    with MemoryFile() as mem:
        with mem.open(**profile, photometric="RGB", alpha="YES") as dst:
            dst.write(rgba)
            dst.update_tags(**_tags(q, seed, size, "corrupt"))
        with mem.open() as src:  # COPY_SRC_OVERVIEWS puts the header (IFD) before the pixels
            tiling = {k: profile[k] for k in ("tiled", "blockxsize", "blockysize") if k in profile}
            rasterio.shutil.copy(
                src, out, driver="GTiff", copy_src_overviews=True, compress="deflate", **tiling
            )
    data = out.read_bytes()
    out.write_bytes(data[: max(1, int(len(data) * keep))])
    return str(out)
