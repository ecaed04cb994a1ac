"""Open a raster URL with rasterio: the one place that knows how GDAL reaches each URL.

* local paths and ``file://``: directly;
* ``http(s)://`` and ``gs://``: GDAL's own ``/vsicurl/`` and ``/vsigs/`` readers, which
  are lazy (byte ranges), thread-safe and cached; they are configured from the same
  fsspec ``storage_options`` (so a GCS emulator's endpoint and anonymous access apply);
* any other fsspec URL (``memory://``...): rasterio's Python opener over the fsspec
  filesystem. That opener is not thread-safe (rasterio issue 3636), so those datasets
  are opened, read and closed under one process-wide lock.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import rasterio

from reefdask.errors import NotARasterError
from reefdask.io.storage import filesystem, is_local_fs

__all__ = ["open_dataset", "gdal_path"]

#: rasterio's Python-opener registry is not thread-safe (rasterio issue 3636)
_OPENER_LOCK = threading.RLock()


@contextlib.contextmanager
def open_dataset(url: str, storage_options: dict[str, Any]) -> Iterator[Any]:
    """Open ``url`` with rasterio, mapping its errors to reefdask's.

    Local paths open directly; ``http(s)://`` and ``gs://`` through GDAL's own
    thread-safe ``/vsicurl/`` and ``/vsigs/`` readers (configured from the fsspec
    options, so the GCS emulator works); any other fsspec URL (``memory://``...)
    through rasterio's Python opener, which is not thread-safe (rasterio issue 3636):
    those reads hold a process-wide lock from open to close.
    """
    gdal = gdal_path(url, storage_options)
    fs, path = filesystem(url, storage_options) if gdal is None else (None, "")
    local = fs is not None and is_local_fs(fs)
    guard = _OPENER_LOCK if gdal is None and not local else contextlib.nullcontext()
    with guard, rasterio.Env(**(gdal[1] if gdal else {})):
        try:
            if gdal is not None:
                ds = rasterio.open(gdal[0])
            elif local:
                ds = rasterio.open(path)
            else:
                ds = rasterio.open(path, opener=fs)
        except rasterio.errors.RasterioIOError as err:
            raise NotARasterError(
                f"{url} cannot be read as a raster ({err}); check it is a GeoTIFF/COG/VRT and re-copy it "
                "if it is truncated or corrupt."
            ) from err
        try:
            yield ds
        finally:
            ds.close()


def gdal_path(url: str, opts: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """GDAL's native path and config options for URLs GDAL reads itself, else None.

    >>> path, env = gdal_path("gs://b/k.tif", {"endpoint_url": "http://127.0.0.1:9", "token": "anon"})
    >>> path, env["CPL_GS_ENDPOINT"], env["GS_NO_SIGN_REQUEST"]
    ('/vsigs/b/k.tif', 'http://127.0.0.1:9/', 'YES')
    """
    env = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
    if url.startswith(("http://", "https://")):
        headers = opts.get("headers") or (opts.get("client_kwargs") or {}).get("headers") or {}
        if headers:
            env["GDAL_HTTP_HEADERS"] = "\r\n".join(f"{k}: {v}" for k, v in headers.items())
        return f"/vsicurl/{url}", env
    if url.startswith(("gs://", "gcs://")):
        if opts.get("endpoint_url"):
            env["CPL_GS_ENDPOINT"] = str(opts["endpoint_url"]).rstrip("/") + "/"
        token = opts.get("token")
        if token == "anon":
            env["GS_NO_SIGN_REQUEST"] = "YES"
        elif isinstance(token, str) and os.path.isfile(token):
            env["GOOGLE_APPLICATION_CREDENTIALS"] = token
        return "/vsigs/" + url.split("://", 1)[1], env
    return None
