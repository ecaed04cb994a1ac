"""reefdask.io / reefdask.io.cog: real GeoTIFF, COG, VRT and Zarr files made by code, read
locally and through memory://, http:// and gs:// (GCS emulator)."""

from __future__ import annotations

import functools
import http.server
import os
import pickle
import threading
from pathlib import Path

import dask
import numpy as np
import pytest
import rasterio
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin

from reefdask.core.nodata import apply_alpha
from reefdask.errors import (
    ConfigError,
    InputNotFoundError,
    MissingCRSError,
    NotARasterError,
    ReefdaskError,
)
from reefdask.io import open_imagery, write_cog
from reefdask.io.storage import filesystem

TRANSFORM = from_origin(-9_800_000.0, 1_950_000.0, 4.777, 4.777)


def write_tif(path, data, *, crs="EPSG:3857", nodata=None, transform=TRANSFORM, descriptions=None, **kw):
    """A real tiled, DEFLATE GeoTIFF; 4-band uint8 gets RGB + alpha colour interpretation."""
    count, height, width = data.shape
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=count,
        dtype=data.dtype.name,
        transform=transform,
        tiled=True,
        blockxsize=64,
        blockysize=64,
        compress="deflate",
    )
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    profile.update(kw)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, d)
    return str(path)


def rgba(seed=0, height=150, width=130):
    """4-band uint8 RGB + alpha with a no-data strip and one pure-black valid pixel."""
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 255, (4, height, width), dtype="uint8")
    data[3] = 255
    data[3, :, : min(7, width - 1)] = 0  # alpha 0: no data
    data[:3, height // 3, width - 1] = 0  # pure black but valid: must stay valid
    return data


def expected_rgb(data):
    return apply_alpha(data[:3], data[3], nodata=0)


class NoCompute:
    """A scheduler that fails: proves that code stays lazy (like xarray's raise_if_dask_computes)."""

    def __call__(self, dsk, keys, **kwargs):
        raise AssertionError("dask computed something while it should have stayed lazy")


# --- reading GeoTIFF ------------------------------------------------------------------


def test_rgba_alpha_is_consumed_and_dropped(tmp_path: Path) -> None:
    data = rgba()
    path = write_tif(tmp_path / "L15-0100E-0456N.tif", data)
    with dask.config.set(scheduler=NoCompute()):
        da = open_imagery(path, chunks=64)
    assert da.dims == ("band", "y", "x")
    assert da.band.values.tolist() == [1, 2, 3]
    assert da.attrs["band_names"] == ["red", "green", "blue"]
    assert da.attrs["nodata"] == 0
    assert da.chunks[0] == (3,), "band axis must never be split"
    assert da.chunks[1] == (64, 64, 22) and da.chunks[2] == (64, 64, 2)
    out = da.values
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected_rgb(data))
    assert (out[:, :, :7] == 0).all()
    assert out[:, 50, 129].tolist() == [1, 0, 0]  # the black valid pixel is nudged, not lost


def test_crs_and_transform_kept_the_rioxarray_way(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "a.tif", rgba())
    da = open_imagery(path, chunks=50)
    assert "spatial_ref" in da.coords
    assert da.rio.crs.to_epsg() == 3857
    assert da.rio.transform().almost_equals(TRANSFORM)
    assert da.x.values[0] == pytest.approx(TRANSFORM.c + TRANSFORM.a / 2)
    assert da.y.values[0] == pytest.approx(TRANSFORM.f + TRANSFORM.e / 2)
    # the CRS lives on the data, so a copy or a slice keeps it
    assert da.isel(x=slice(10, 20)).copy().rio.crs.to_epsg() == 3857


def test_band_selection_by_number_and_name(tmp_path: Path) -> None:
    data = rgba()
    path = write_tif(tmp_path / "a.tif", data)
    by_number = open_imagery(path, bands=[3, 1])
    assert by_number.band.values.tolist() == [3, 1]
    assert by_number.attrs["band_names"] == ["blue", "red"]
    # the policy applies to the selected bands: a pixel black in both is nudged in the first one
    np.testing.assert_array_equal(by_number.values, apply_alpha(data[[2, 0]], data[3], 0))
    assert open_imagery(path, bands="GREEN").band.values.tolist() == [2]
    with pytest.raises(ConfigError, match="alpha band"):
        open_imagery(path, bands=[1, 4])
    with pytest.raises(ConfigError, match="not a data band"):
        open_imagery(path, bands=["nir"])
    raw = open_imagery(path, alpha=False)
    assert raw.sizes["band"] == 4 and raw.attrs["nodata"] is None
    np.testing.assert_array_equal(raw.values, data)


def test_internal_mask_is_consumed(tmp_path: Path) -> None:
    data = rgba()[:3]
    path = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        write_tif(path, data, photometric="RGB")
        with rasterio.open(path, "r+") as dst:
            mask = np.full(data.shape[1:], 255, dtype="uint8")
            mask[:10] = 0
            dst.write_mask(mask)
    da = open_imagery(path)
    assert da.sizes["band"] == 3 and da.attrs["nodata"] == 0
    np.testing.assert_array_equal(da.values, apply_alpha(data, mask, 0))


def test_declared_nodata_and_float(tmp_path: Path) -> None:
    labels = np.arange(40 * 30, dtype="int16").reshape(1, 40, 30)
    labels[0, :3] = -9999
    da = open_imagery(write_tif(tmp_path / "l.tif", labels, nodata=-9999), chunks=16)
    assert da.attrs["nodata"] == -9999 and isinstance(da.attrs["nodata"], int)
    np.testing.assert_array_equal(da.values, labels)
    assert da.attrs["band_names"] == ["gray"]
    heat = np.linspace(0, 1, 2 * 20 * 20, dtype="float32").reshape(2, 20, 20)
    named = open_imagery(write_tif(tmp_path / "f.tif", heat, descriptions=["reef", "land"]), bands="land")
    assert np.isnan(named.attrs["nodata"]) and named.band.values.tolist() == [2]
    np.testing.assert_array_equal(named.values, heat[1:])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    height=st.integers(1, 80),
    width=st.integers(1, 80),
    chunk=st.integers(8, 64),
    seed=st.integers(0, 2**16),
)
def test_chunked_read_equals_whole_read(
    tmp_path: Path, height: int, width: int, chunk: int, seed: int
) -> None:
    data = rgba(seed, height, width)
    path = write_tif(tmp_path / f"p{seed}_{height}_{width}.tif", data, tiled=False)
    da = open_imagery(path, chunks=chunk)
    assert all(c <= chunk for c in da.chunks[1] + da.chunks[2])
    np.testing.assert_array_equal(da.values, expected_rgb(data))


# --- VRT, COG, Zarr -------------------------------------------------------------------


def vrt_mosaic(folder: Path) -> np.ndarray:
    """left.tif + right.tif side by side and mosaic.vrt over them (relative paths); the mosaic."""
    left, right = rgba(1, 64, 40), rgba(2, 64, 40)
    write_tif(folder / "left.tif", left)
    shifted = from_origin(TRANSFORM.c + 40 * TRANSFORM.a, TRANSFORM.f, TRANSFORM.a, -TRANSFORM.e)
    write_tif(folder / "right.tif", right, transform=shifted)
    with rasterio.open(folder / "left.tif") as src:
        srs = src.crs.to_wkt()
    bands = []
    for b, interp in enumerate(["Red", "Green", "Blue", "Alpha"], start=1):
        sources = "".join(
            f"""<SimpleSource><SourceFilename relativeToVRT="1">{name}</SourceFilename>
            <SourceBand>{b}</SourceBand><SrcRect xOff="0" yOff="0" xSize="40" ySize="64"/>
            <DstRect xOff="{off}" yOff="0" xSize="40" ySize="64"/></SimpleSource>"""
            for name, off in (("left.tif", 0), ("right.tif", 40))
        )
        bands.append(
            f'<VRTRasterBand dataType="Byte" band="{b}"><ColorInterp>{interp}</ColorInterp>'
            f"{sources}</VRTRasterBand>"
        )
    gt = ", ".join(str(v) for v in TRANSFORM.to_gdal())
    (folder / "mosaic.vrt").write_text(
        f'<VRTDataset rasterXSize="80" rasterYSize="64"><SRS>{srs}</SRS>'
        f"<GeoTransform>{gt}</GeoTransform>{''.join(bands)}</VRTDataset>"
    )
    return np.concatenate([left, right], axis=2)


def test_vrt_mosaic_of_two_tiles(tmp_path: Path) -> None:
    mosaic = vrt_mosaic(tmp_path)
    da = open_imagery(tmp_path / "mosaic.vrt", chunks=32)
    assert da.sizes == {"band": 3, "y": 64, "x": 80}
    np.testing.assert_array_equal(da.values, expected_rgb(mosaic))


def test_write_cog_categorical_and_continuous(tmp_path: Path) -> None:
    from rio_cogeo.cogeo import cog_validate

    classes = np.random.default_rng(3).integers(1, 15, (1, 300, 260)).astype("uint8")
    src = open_imagery(write_tif(tmp_path / "classes.tif", classes, nodata=255), chunks=100)
    out = write_cog(src, tmp_path / "out" / "classes_cog.tif", blocksize=128)
    valid, errors, _ = cog_validate(out)
    assert valid, errors
    with rasterio.open(out) as f:
        assert f.overviews(1) == [2, 4]
        assert f.tags()["OVERVIEW_RESAMPLING"] == "NEAREST"
        assert f.nodata == 255 and f.crs.to_epsg() == 3857 and f.transform.almost_equals(TRANSFORM)
        np.testing.assert_array_equal(f.read(), classes)
        overview = f.read(1, out_shape=(75, 65))  # served from the 4x overview
        assert set(np.unique(overview)) <= set(np.unique(classes))  # nearest never invents classes
    assert open_imagery(out).attrs["nodata"] == 255

    heat = np.repeat(np.repeat(np.arange(64 * 64, dtype="float32").reshape(64, 64), 4, 0), 4, 1)[None]
    heat[0, ::2, ::2] += 1.0  # a 2x2 average differs from any one of its pixels
    src = open_imagery(write_tif(tmp_path / "heat.tif", heat), chunks=128)
    out = write_cog(src, tmp_path / "heat_cog.tif", blocksize=128, compress="zstd")
    assert cog_validate(out)[0]
    with rasterio.open(out) as f:
        assert f.tags()["OVERVIEW_RESAMPLING"] == "AVERAGE" and f.overviews(1) == [2]
        half = f.read(1, out_shape=(128, 128))
    expected = heat[0].reshape(128, 2, 128, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(half, expected, rtol=1e-6)


def test_write_cog_refuses_missing_crs_and_bad_blocksize(tmp_path: Path) -> None:
    da = xr.DataArray(np.zeros((1, 32, 32), "uint8"), dims=("band", "y", "x"))
    with pytest.raises(MissingCRSError):
        write_cog(da, tmp_path / "x.tif", blocksize=16)
    with pytest.raises(ConfigError, match="multiple of 16"):
        write_cog(da, tmp_path / "x.tif", blocksize=100)
    assert not (tmp_path / "x.tif").exists()


def test_write_cog_publishes_through_the_store_and_a_failure_leaves_nothing(
    tmp_path: Path, monkeypatch
) -> None:
    import uuid

    from reefdask.io.store import open_store

    src = open_imagery(write_tif(tmp_path / "a.tif", rgba()), chunks=64)
    mem = open_store(f"memory://cog-{uuid.uuid4().hex[:8]}")
    write_cog(src, mem.url_for("q/a_cog.tif"), blocksize=64)
    assert mem.list() == ["q/a_cog.tif"] and mem.read("q/a_cog.tif")[:2] in (b"II", b"MM")

    def broken(*args, **kwargs):
        raise rasterio.errors.RasterioIOError("disk full while writing overviews")

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(rasterio.shutil, "copy", broken)
    with pytest.raises(rasterio.errors.RasterioIOError):
        write_cog(src, out / "a_cog.tif", blocksize=64)
    assert os.listdir(out) == []  # no COG, no temporary folder beside it


def test_plain_zarr_with_imagery_variable(tmp_path: Path) -> None:
    src = open_imagery(write_tif(tmp_path / "a.tif", rgba()), chunks=64)
    store = tmp_path / "plain.zarr"
    src.to_dataset(name="imagery").to_zarr(store, zarr_format=3, consolidated=False, mode="w")
    da = open_imagery(store, chunks=32, bands=[2])
    assert da.rio.crs.to_epsg() == 3857 and da.chunks[0] == (1,) and da.chunks[1][0] == 32
    np.testing.assert_array_equal(da.values, src.values[[1]])
    bare = xr.Dataset({"imagery": (("band", "y", "x"), np.zeros((1, 4, 4), "uint8"))})
    bare.to_zarr(tmp_path / "nocrs.zarr", zarr_format=3, consolidated=False, mode="w")
    with pytest.raises(MissingCRSError, match="nocrs.zarr"):
        open_imagery(tmp_path / "nocrs.zarr")


# --- bad input ------------------------------------------------------------------------


def test_bad_inputs_name_the_input_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nope.tif"
    with pytest.raises(InputNotFoundError, match="nope.tif.*does not exist") as err:
        open_imagery(missing)
    assert isinstance(err.value, FileNotFoundError)
    with pytest.raises(InputNotFoundError, match="memory://nowhere"):
        open_imagery("memory://nowhere/x.tif")
    text = tmp_path / "notes.tif"
    text.write_text("this is not a raster\n")
    with pytest.raises(NotARasterError, match="notes.tif.*cannot be read as a raster"):
        open_imagery(text)
    with pytest.raises(NotARasterError, match="not a Zarr store"):
        open_imagery(tmp_path)
    nocrs = write_tif(tmp_path / "nocrs.tif", rgba()[:3], crs=None, transform=from_origin(0, 100, 1, 1))
    with pytest.raises(MissingCRSError, match="nocrs.tif.*gdal_edit"):
        open_imagery(nocrs)
    with pytest.raises(ConfigError, match="chunks"):
        open_imagery(nocrs, chunks=0)


def test_truncated_file_fails_clearly(tmp_path: Path) -> None:
    data = rgba(5, 256, 256)
    good = write_tif(tmp_path / "good.tif", data, compress="deflate")
    blob = Path(good).read_bytes()
    broken = tmp_path / "broken.tif"
    broken.write_bytes(blob[: len(blob) // 2])  # header intact, tiles cut off
    with pytest.raises(ReefdaskError, match="broken.tif"):
        open_imagery(broken, chunks=64).values  # noqa: B018


# --- fsspec URLs and distributed ------------------------------------------------------


def test_memory_url_lazy_picklable_and_on_a_local_cluster(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    data = rgba(7)
    fs, _ = filesystem("memory://")
    fs.pipe_file("/io-test/L15-0100E-0456N.tif", Path(write_tif(tmp_path / "m.tif", data)).read_bytes())
    url = "memory://io-test/L15-0100E-0456N.tif"
    with dask.config.set(scheduler=NoCompute()):
        da = open_imagery(url, chunks=64)
    pickle.dumps(dict(da.data.__dask_graph__()))  # the graph holds only plain values
    np.testing.assert_array_equal(da.values, expected_rgb(data))
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        with Client(cluster):
            np.testing.assert_array_equal(da.compute().values, expected_rgb(data))
    out = write_cog(da, "memory://io-test/out/cog.tif", blocksize=64)
    np.testing.assert_array_equal(open_imagery(out).values, expected_rgb(data))
    assert not [p for p in fs.find("/io-test/out") if ".tmp-" in p]


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support, as object stores and CDNs do."""

    def log_message(self, *args):  # keep test output clean
        pass

    def send_head(self):
        rng = self.headers.get("Range")
        path = self.translate_path(self.path)
        if not rng or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        start, end = rng.split("=")[1].split("-")
        start, end = int(start), min(int(end) if end else size - 1, size - 1)
        f = open(path, "rb")
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return _Limited(f, end - start + 1)


class _Limited:
    def __init__(self, f, n):
        self.f, self.n = f, n

    def read(self, size=-1):
        size = self.n if size < 0 else min(size, self.n)
        chunk = self.f.read(size)
        self.n -= len(chunk)
        return chunk

    def close(self):
        self.f.close()


def test_http_url(tmp_path: Path) -> None:
    data = rgba(9)
    write_tif(tmp_path / "q.tif", data)
    handler = functools.partial(_RangeHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        da = open_imagery(f"{base}/q.tif", chunks=64)
        np.testing.assert_array_equal(da.values, expected_rgb(data))
        with pytest.raises(InputNotFoundError):
            open_imagery(f"{base}/missing.tif")
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.gcs
@pytest.mark.slow
def test_gcs_read_write_on_a_process_cluster(gcs_bucket: str, tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    data = rgba(11)
    fs, _ = filesystem(gcs_bucket)
    url = f"{gcs_bucket}/mosaic/belize/L15-0100E-0456N.tif"
    fs.put_file(write_tif(tmp_path / "g.tif", data), url.removeprefix("gs://"))
    da = open_imagery(url, chunks=64)
    np.testing.assert_array_equal(da.values, expected_rgb(data))
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
        with Client(cluster):
            np.testing.assert_array_equal(da.compute().values, expected_rgb(data))
    cog = write_cog(da, f"{gcs_bucket}/products/cog.tif", blocksize=64, categorical=False)
    fs.invalidate_cache()
    back = open_imagery(cog)
    np.testing.assert_array_equal(back.values, expected_rgb(data))
    with pytest.raises(InputNotFoundError, match=gcs_bucket):
        open_imagery(f"{gcs_bucket}/missing.tif")
    # a VRT in the bucket whose sources sit beside it (relative paths resolve through /vsigs/)
    mosaic = vrt_mosaic(tmp_path)
    for name in ("left.tif", "right.tif", "mosaic.vrt"):
        fs.put_file(str(tmp_path / name), f"{gcs_bucket.removeprefix('gs://')}/vrt/{name}")
    fs.invalidate_cache()
    vrt = open_imagery(f"{gcs_bucket}/vrt/mosaic.vrt", chunks=32)
    np.testing.assert_array_equal(vrt.values, expected_rgb(mosaic))
