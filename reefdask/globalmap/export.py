"""Export a global run: COGs per quad or block of quads, a VRT mosaic per product, a STAC catalog.

* ``DIR/cogs/<product>/<block id>.tif``: Cloud-Optimized GeoTIFFs (EPSG:3857, nodata
  255) of each block of ``block x block`` quads that holds at least one ``done`` quad;
  overviews are nearest for class maps (``classes``, ``outline``) and average for
  probabilities (``probabilities``, ``coarse``, ``heat``).
* ``DIR/<product>.vrt``: a GDAL VRT mosaic of the product's COGs, for desktop GIS.
* ``DIR/stac/collection.json``: a STAC collection with one item per block; each item has
  one asset per product and the run's provenance (fingerprint, models, ensemble
  members, quad statuses).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from reefdask.core.grid import Quad
from reefdask.globalmap.mapstore import NODATA, MapStore
from reefdask.globalmap.plan import read_manifest
from reefdask.globalmap.statuses import read_statuses
from reefdask.io.store import Store, open_store

__all__ = ["CATEGORICAL", "export_run", "block_of"]

#: products exported with nearest-neighbour overviews
CATEGORICAL = ("classes", "outline")
_COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


def block_of(quad: Quad, block: int) -> Quad:
    """The north-west quad of the ``block x block`` block that holds ``quad``.

    >>> block_of(Quad.parse("L15-0525E-1123N"), 4).id
    'L15-0524E-1123N'
    """
    n = quad.quads_per_side
    row_from_top = n - 1 - quad.y
    top = row_from_top - row_from_top % block
    return Quad(quad.x - quad.x % block, n - 1 - top, quad.level)


def export_run(
    run: Store | str, outdir: str, *, block: int = 1, storage_options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write COGs, VRT mosaics and a STAC catalog of the run's ``done`` quads into ``outdir``.

    ``run`` is the run's :class:`~reefdask.io.store.Store`, or its URL (opened once with
    ``storage_options``). Returns a summary: the files written per product and the catalog's path.
    """
    run_store = open_store(run, storage_options)
    manifest = read_manifest(run_store)
    statuses = read_statuses(run_store)
    store = MapStore(run_store.child("map.zarr"))
    grid = store.grid()
    names: tuple[str, ...] = ("probabilities", "coarse", "classes", "heat", "outline")
    products = [p for p in names if p in store.products()]
    blocks: dict[Quad, list[str]] = {}
    for q, s in sorted(statuses.items()):
        if s == "done":
            blocks.setdefault(block_of(Quad.parse(q), block), []).append(q)
    os.makedirs(outdir, exist_ok=True)
    files: dict[str, dict[str, str]] = {p: {} for p in products}
    for nw, members in sorted(blocks.items()):
        bid = nw.id if block == 1 else f"{nw.id}-{block}x{block}"
        for p in products:
            path = os.path.join(outdir, "cogs", p, f"{bid}.tif")
            _write_block(store, grid, p, nw, block, members, path)
            files[p][bid] = path
    vrts = {
        p: _write_vrt(os.path.join(outdir, f"{p}.vrt"), list(files[p].values())) for p in products if files[p]
    }
    catalog = _write_stac(outdir, manifest, files, blocks, block, statuses, vrts, store.attrs())
    return {
        "blocks": len(blocks),
        "products": products,
        "cogs": sum(len(f) for f in files.values()),
        "vrt": vrts,
        "stac": catalog,
    }


def _write_block(
    store: MapStore, grid: Any, product: str, nw: Quad, block: int, members: list[str], path: str
) -> None:
    import rioxarray  # noqa: F401
    import xarray as xr

    from reefdask.io.cog import write_cog

    s = grid.quad_size
    arr = store.group[product]
    rows, cols = grid.region(nw)
    r0, c0 = rows.start, cols.start
    n = grid.quads_per_side
    nrows = min(block, nw.y + 1) * s
    ncols = min(block, n - nw.x) * s
    bands = arr.shape[0] if arr.ndim == 3 else 1
    data = np.full((bands, nrows, ncols), NODATA, dtype="uint8")
    for q in members:  # only the chunks that exist: never read an unwritten quad
        qr, qc = grid.region(Quad.parse(q))
        block_data = arr[:, qr, qc] if arr.ndim == 3 else arr[qr, qc][None]
        data[:, qr.start - r0 : qr.stop - r0, qc.start - c0 : qc.stop - c0] = block_data
    px = grid.pixel_size
    x0, y0 = grid.transform()[0] + c0 * px, grid.transform()[3] - r0 * px
    da = xr.DataArray(
        data,
        dims=("band", "y", "x"),
        coords={
            "band": np.arange(1, bands + 1),
            "y": y0 - (np.arange(nrows) + 0.5) * px,
            "x": x0 + (np.arange(ncols) + 0.5) * px,
        },
        attrs={"nodata": NODATA},
    ).rio.write_crs("EPSG:3857")
    codes = arr.attrs.get("band_codes") or []
    if codes:
        da.attrs["band_names"] = [f"{product}_{c}" for c in codes]
    blocksize = max(16, min(512, 1 << int(np.log2(max(16, min(nrows, ncols))))))
    write_cog(da, path, categorical=product in CATEGORICAL, nodata=NODATA, blocksize=blocksize)


def _write_vrt(path: str, cogs: list[str]) -> str:
    """A GDAL VRT mosaic of same-grid, non-overlapping COGs (written without GDAL's Python bindings)."""
    import rasterio

    metas = []
    for f in sorted(cogs):
        with rasterio.open(f) as ds:
            metas.append((f, ds.transform, ds.width, ds.height, ds.count, ds.crs.to_wkt()))
    px = metas[0][1].a
    left = min(t.c for _, t, *_ in metas)
    top = max(t.f for _, t, *_ in metas)
    right = max(t.c + w * px for _, t, w, *_ in metas)
    bottom = min(t.f - h * px for _, t, _, h, *_ in metas)
    width, height = round((right - left) / px), round((top - bottom) / px)
    count = metas[0][4]
    lines = [
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">',
        f"  <SRS>{escape(metas[0][5])}</SRS>",
        f"  <GeoTransform>{left!r}, {px!r}, 0.0, {top!r}, 0.0, {-px!r}</GeoTransform>",
    ]
    for b in range(1, count + 1):
        lines.append(f'  <VRTRasterBand dataType="Byte" band="{b}">')
        lines.append(f"    <NoDataValue>{NODATA}</NoDataValue>")
        for f, t, w, h, *_ in metas:
            xoff, yoff = round((t.c - left) / px), round((top - t.f) / px)
            rel = os.path.relpath(f, os.path.dirname(path))
            lines += [
                "    <SimpleSource>",
                f'      <SourceFilename relativeToVRT="1">{escape(rel)}</SourceFilename>',
                f"      <SourceBand>{b}</SourceBand>",
                f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>',
                f'      <DstRect xOff="{xoff}" yOff="{yoff}" xSize="{w}" ySize="{h}"/>',
                "    </SimpleSource>",
            ]
        lines.append("  </VRTRasterBand>")
    lines.append("</VRTDataset>")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def _write_stac(
    outdir: str,
    manifest: dict[str, Any],
    files: dict[str, dict[str, str]],
    blocks: dict[Quad, list[str]],
    block: int,
    statuses: dict[str, str],
    vrts: dict[str, str],
    attrs: dict[str, Any],
) -> str:
    import pystac
    from shapely.geometry import box, mapping

    now = datetime.now(UTC)
    provenance = {
        "reefdask:fingerprint": manifest.get("fingerprint"),
        "reefdask:models": manifest.get("members"),
        "reefdask:ensemble": manifest.get("ensemble", False),
        "reefdask:version": manifest.get("reefdask_version"),
    }
    items, bboxes = [], []
    for nw, members in sorted(blocks.items()):
        bid = nw.id if block == 1 else f"{nw.id}-{block}x{block}"
        quads = [Quad.parse(q) for q in members]
        wests, souths, easts, norths = zip(*(q.lonlat_bounds() for q in quads), strict=True)
        bbox = [min(wests), min(souths), max(easts), max(norths)]
        bboxes.append(bbox)
        item = pystac.Item(
            id=bid,
            geometry=mapping(box(*bbox)),
            bbox=bbox,
            datetime=now,
            properties={
                **provenance,
                "reefdask:quads": {q: statuses[q] for q in members},
                "reefdask:quad_size": attrs.get("quad_size"),
            },
        )
        for p, by_block in files.items():
            item.add_asset(
                p,
                pystac.Asset(
                    href=os.path.abspath(by_block[bid]),
                    media_type=_COG_TYPE,
                    roles=["data"],
                    title=f"{p} ({'classes' if p in CATEGORICAL else 'percent'})",
                ),
            )
        items.append(item)
    west, south = min(b[0] for b in bboxes), min(b[1] for b in bboxes)
    east, north = max(b[2] for b in bboxes), max(b[3] for b in bboxes)
    collection = pystac.Collection(
        id=f"reefdask-global-{manifest.get('fingerprint')}",
        description="Reef map products of a reefdask global run: class probabilities, classes, reef heat, "
        "reef outline.",
        extent=pystac.Extent(
            pystac.SpatialExtent([[west, south, east, north]]), pystac.TemporalExtent([[now, None]])
        ),
        extra_fields={"reefdask:provenance": {**provenance, "settings": manifest.get("settings")}},
        license="other",
    )
    for p, v in vrts.items():
        collection.add_asset(
            f"{p}-mosaic",
            pystac.Asset(
                href=os.path.abspath(v),
                media_type="application/xml",
                roles=["overview"],
                title=f"{p} VRT mosaic",
            ),
        )
    collection.add_items(items)
    stac_dir = os.path.join(outdir, "stac")
    collection.normalize_hrefs(stac_dir)
    collection.make_all_asset_hrefs_relative()
    collection.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return os.path.join(stac_dir, "collection.json")
