"""Zarr imagery in io, cube scenes through the reader the cube registers (io never imports cube)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from reefdask.errors import NotARasterError
from tests.test_io import expected_rgb, rgba, write_tif

ROOT = Path(__file__).resolve().parents[1]
QUAD = "L15-0100E-0456N"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT, check=False
    )


def _plain_group(path: Path) -> np.ndarray:
    data = np.arange(2 * 6 * 8, dtype="uint16").reshape(2, 6, 8)
    da = xr.DataArray(data, dims=("band", "y", "x"), name="imagery",
                      coords={"band": [1, 2], "y": np.arange(6.0), "x": np.arange(8.0)})  # fmt: skip
    da.rio.write_crs("EPSG:3857").to_dataset().to_zarr(path, zarr_format=3, consolidated=False)
    return data


def test_plain_zarr_group_opens_without_importing_the_cube(tmp_path: Path) -> None:
    data = _plain_group(tmp_path / "img.zarr")
    out = _run(
        f"""
        import sys
        from reefdask.io import open_imagery
        da = open_imagery({str(tmp_path / "img.zarr")!r}, chunks=4, bands=[2])
        print(da.sizes["band"], int(da.values.sum()), "reefdask.cube" in sys.modules)
        """
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", str(int(data[1].sum())), "False"]


def test_registered_layout_reads_its_groups_and_passes_on_others(tmp_path: Path) -> None:
    from reefdask.io import open_imagery, zarr_imagery

    data = _plain_group(tmp_path / "img.zarr")
    seen = []

    def layout(url, attrs, chunks, bands, opts):
        seen.append((url, chunks))
        if attrs.get("layout") != "mine":
            return None
        return zarr_imagery.open_zarr_group(url, None, chunks, bands, opts).assign_attrs(read_by="mine")

    zarr_imagery.register_zarr_layout(layout)
    try:
        assert zarr_imagery.register_zarr_layout(layout) is layout
        assert zarr_imagery._LAYOUTS.count(layout) == 1
        plain = open_imagery(tmp_path / "img.zarr", chunks=3)
        assert "read_by" not in plain.attrs and seen == [(str(tmp_path / "img.zarr"), (3, 3))]
        zarr.open_group(str(tmp_path / "img.zarr"), mode="r+").attrs["layout"] = "mine"
        mine = open_imagery(tmp_path / "img.zarr", chunks=3)
        assert mine.attrs["read_by"] == "mine"
        np.testing.assert_array_equal(mine.values, data)
    finally:
        zarr_imagery._LAYOUTS.remove(layout)


def test_cube_scene_through_open_imagery_is_the_cube_reader(tmp_path: Path) -> None:
    from reefdask.cube import ingest, open_cube
    from reefdask.cube.store import _cube_layout
    from reefdask.io import open_imagery, zarr_imagery

    assert _cube_layout in zarr_imagery._LAYOUTS
    src = tmp_path / f"{QUAD}.tif"
    data = rgba(3, 64, 64)
    write_tif(src, data)
    store = tmp_path / "c.zarr"
    ingest([str(src)], str(store), chunk=64)
    scene = open_imagery(f"{store}/{QUAD}", chunks=32)
    np.testing.assert_array_equal(scene.values, expected_rgb(data))
    np.testing.assert_array_equal(scene.values, open_cube(store, QUAD).values)
    assert scene.chunks[1] == (32, 32)
    np.testing.assert_array_equal(open_imagery(store).values, expected_rgb(data))  # a one-scene cube


def test_predict_input_reader_registers_the_cube_reader(tmp_path: Path) -> None:
    """``reefdask predict STORE/SCENE`` gets the cube's completion check without importing the cube first."""
    src = write_tif(tmp_path / f"{QUAD}.tif", rgba(4, 64, 64))
    out = _run(
        f"""
        import sys
        from reefdask.io import zarr_imagery
        before = "reefdask.cube.store" in sys.modules
        from reefdask.predict.plan import resolve_imagery
        resolve_imagery({str(src)!r}, 64)
        layouts = [f.__module__ for f in zarr_imagery._LAYOUTS]
        print(before, "reefdask.cube.store" in layouts)
        """
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "True"]


def test_a_directory_that_is_no_zarr_store_is_not_a_raster(tmp_path: Path) -> None:
    from reefdask.io import open_imagery

    (tmp_path / "folder").mkdir()
    with pytest.raises(NotARasterError, match="not a Zarr store"):
        open_imagery(tmp_path / "folder")


def test_top_level_open_imagery_reads_cube_scenes() -> None:
    out = _run(
        """
        import sys
        import reefdask
        from reefdask.io import zarr_imagery
        reefdask.open_imagery
        print("reefdask.cube.store" in [f.__module__ for f in zarr_imagery._LAYOUTS])
        """
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True"]

