"""Seeded synthetic reef scenes on the real quad grid (SYNTHETIC data: never real imagery).

Every field is a function of world coordinates (EPSG:3857 metres): value noise on global
lattices whose node values hash the lattice indices with the seed, interpolated with
elementwise IEEE arithmetic only. A pixel's value therefore depends on its world
position, the pixel size and the seed, not on which quad or window is rendered: quads
rendered one by one equal one rendering of the block, bit for bit (no seams).

Scenes (rendered by :mod:`reefdask.synthetic.scene`): platforms ringed by forereef slopes
and reef flats, with lagoons (and pinnacles) inside and islands on top (beach, vegetation,
ponds); reef flats, sand and seagrass share colours and differ in texture and context.
Then haze, clouds with offset shadows, sensor noise and no-data patches (alpha 0, labels
-9999). Supplementary land / water come as square "hand-drawn" cells.

``kind`` per quad: ``"auto"`` (the above), ``"no_reef"`` (all deep water: labels 3, no
cloud, no nodata), ``"land"`` (all land: labels 1, no cloud, no nodata). Forced kinds
do not join their neighbours seamlessly.

Examples
--------
>>> from reefdask.core.grid import Quad
>>> rgba, labels = synth_scene(Quad.parse("L15-0525E-1122N"), size=64, seed=1)
>>> rgba.shape, rgba.dtype.name, labels.dtype.name
((4, 64, 64), 'uint8', 'int16')
>>> bool((synth_scene(Quad.parse("L15-0525E-1122N"), size=64, seed=1)[0] == rgba).all())
True
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reefdask.core.grid import Quad
from reefdask.core.nodata import LABEL_NODATA
from reefdask.errors import ConfigError
from reefdask.io.store import temp_name
from reefdask.io.store_local import LocalStore
from reefdask.synthetic.scene import KINDS, render

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

#: north-west quad of the default block: next to Lighthouse Reef, Belize
DEFAULT_ORIGIN = "L15-0525E-1123N"
DESCRIPTION = "SYNTHETIC reefdask test scene (generated, not real imagery)"


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
    return render(gx0, gy0, cols * size, rows * size, q.side / size, int(seed), kind)


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
    tmp = path.with_name(temp_name(path.name))
    extra = {"photometric": "RGB", "alpha": "YES"} if rgba else {}
    try:
        with rasterio.open(tmp, "w", **profile, **extra) as dst:
            dst.write(arr if arr.ndim == 3 else arr[None])
            dst.update_tags(**tags)
            if rgba:
                dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
                dst.descriptions = ("red", "green", "blue", "alpha")
            else:
                dst.descriptions = ("class",)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    LocalStore(path.parent, fsync=False).publish_file(path.name, str(tmp), move=True)  # never half a quad


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
    ``outdir`` may be an fsspec URL (``gs://``, ``memory://``): files are made locally, then uploaded.
    """
    import tempfile

    from reefdask.core.classes import default_schema
    from reefdask.io.store import open_store

    todo = (
        default_quads(quads, origin)
        if isinstance(quads, int)
        else [Quad.parse(q) if isinstance(q, str) else q for q in quads]
    )
    forced = {(Quad.parse(k) if isinstance(k, str) else k): v for k, v in (kinds or {}).items()}
    schema = default_schema()
    store = open_store(outdir)
    staging = None if store.local else tempfile.TemporaryDirectory(prefix="reefdask-synth-")
    root = Path(store.url_for()) if staging is None else Path(staging.name)
    made = []
    try:
        for q in todo:
            k = forced.get(q, kind)
            rels = (f"imagery/{region}/{q.id}.tif", f"labels/{region}/{q.id}.tif")
            image, label = _write_quad(root, rels, q, size=size, seed=seed, kind=k, schema=schema)
            urls = (str(image), str(label))
            if staging is not None:  # a bucket or memory://: publish each finished file
                urls = (store.url_for(rels[0]), store.url_for(rels[1]))
                for path, rel in ((image, rels[0]), (label, rels[1])):
                    store.publish_file(rel, str(path), move=True)
            made.append(SyntheticQuad(q, urls[0], urls[1], k))
    finally:
        if staging is not None:
            staging.cleanup()
    return made


def _write_quad(
    root: Path, rels: tuple[str, str], q: Quad, *, size: int, seed: int, kind: str, schema: Any
) -> tuple[Path, Path]:
    rgba, labels = synth_scene(q, size=size, seed=seed, kind=kind)
    tags = _tags(q, seed, size, kind)
    image, label = root / rels[0], root / rels[1]
    _write(image, rgba, _profile(size, q, count=4, dtype="uint8", nodata=None), tags, rgba=True)
    ltags = {**tags, "REEFDASK_CLASS_SCHEMA": schema.name, "REEFDASK_CLASS_FINGERPRINT": schema.fingerprint}
    lprofile = _profile(size, q, count=1, dtype="int16", nodata=LABEL_NODATA)
    _write(label, labels, lprofile, ltags, rgba=False)
    return image, label


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
