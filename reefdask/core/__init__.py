"""The domain: the quad grid, class schemas and the nodata conventions (no I/O, no Dask)."""
