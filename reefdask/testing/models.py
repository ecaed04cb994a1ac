"""Tiny, seeded models and scenes for tests, benchmarks and examples of the engine.

``tiny_fcn`` is a fully convolutional net with a known receptive field
(``n_conv`` 3x3 convolutions: radius ``n_conv``, or ``2 * n_conv`` with one 2x pooling
stage); ``tiny_unet`` is a U-Net of the reference family; ``fixed_window`` rebuilds a
model with a fixed input size sharing the same weights (for the windows strategy).
TensorFlow is imported inside the functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_imagery", "fixed_window", "scene_array", "tiny_fcn", "tiny_unet", "write_tif"]


def tiny_fcn(
    path: str | None = None,
    *,
    bands: int = 3,
    classes: int = 4,
    n_conv: int = 2,
    filters: int = 8,
    pool: bool = False,
    window: int | None = None,
    seed: int = 0,
) -> Any:
    """A small fully convolutional softmax model; saved to ``path`` when given."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((window, window, bands))
    x = inp
    for i in range(n_conv):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="tanh")(x)
        if pool and i == 0:
            x = keras.layers.MaxPooling2D(2)(x)
    if pool:
        x = keras.layers.UpSampling2D(2)(x)
    out = keras.layers.Conv2D(classes, 1, activation="softmax")(x)
    model = keras.Model(inp, out)
    if path is not None:
        model.save(path)
    return model


def fixed_window(model: Any, window: int, path: str | None = None) -> Any:
    """The same network and weights with a fixed ``window`` x ``window`` input."""
    import keras

    bands = model.inputs[0].shape[-1]
    clone = keras.models.clone_model(model, input_tensors=keras.Input((window, window, bands)))
    clone.set_weights(model.get_weights())
    if path is not None:
        clone.save(path)
    return clone


def tiny_unet(
    path: str | None = None,
    *,
    bands: int = 3,
    classes: int = 14,
    depth: int = 3,
    filters: int = 16,
    seed: int = 0,
) -> Any:
    """A U-Net (two 3x3 convs per level, 2x2 pooling, skip connections, softmax)."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((None, None, bands))
    x, skips = inp, []
    for d in range(depth):
        f = filters * 2**d
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        skips.append(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(filters * 2**depth, 3, padding="same", activation="relu")(x)
    for d in reversed(range(depth)):
        x = keras.layers.UpSampling2D(2)(x)
        x = keras.layers.Concatenate()([x, skips[d]])
        x = keras.layers.Conv2D(filters * 2**d, 3, padding="same", activation="relu")(x)
    out = keras.layers.Conv2D(classes, 1, activation="softmax")(x)
    model = keras.Model(inp, out)
    if path is not None:
        model.save(path)
    return model


def scene_array(
    height: int, width: int, *, bands: int = 3, seed: int = 0, nodata_box: tuple[int, ...] = ()
) -> np.ndarray:
    """Seeded uint8 ``(band, y, x)`` imagery (1..254) with an optional nodata (0) box ``y0, y1, x0, x1``."""
    rng = np.random.default_rng(seed)
    img = rng.integers(1, 255, size=(bands, height, width), dtype="uint8")
    if nodata_box:
        y0, y1, x0, x1 = nodata_box
        img[:, y0:y1, x0:x1] = 0
    return img


def as_imagery(img: Any, *, nodata: int = 0, name: str = "test", crs: str = "EPSG:3857") -> Any:
    """Wrap a ``(band, y, x)`` NumPy or Dask array as georeferenced imagery (10 m pixels)."""
    import rioxarray  # noqa: F401  (registers .rio)
    import xarray as xr

    b, h, w = img.shape
    da = xr.DataArray(
        img,
        dims=("band", "y", "x"),
        coords={
            "band": np.arange(1, b + 1),
            "y": 5000.0 - 10 * (np.arange(h) + 0.5),
            "x": 10 * (np.arange(w) + 0.5),
        },
        attrs={"nodata": nodata},
        name=name,
    )
    return da.rio.write_crs(crs)


def write_tif(path: Any, img: np.ndarray, block: int = 32) -> str:
    """Write ``(band, y, x)`` uint8 imagery as a tiled, DEFLATE GeoTIFF (nodata 0, 10 m pixels)."""
    import rasterio

    b, h, w = img.shape
    with rasterio.open(
        path, "w", driver="GTiff", width=w, height=h, count=b, dtype="uint8", nodata=0, crs="EPSG:3857",
        transform=rasterio.Affine(10, 0, 0, 0, -10, 0), tiled=True, blockxsize=block, blockysize=block,
        compress="deflate", interleave="pixel",
    ) as f:  # fmt: skip
        f.write(img)
    return str(path)
