"""Reading and writing: URLs and stores, rasters (GeoTIFF/COG/Zarr imagery), conditional objects.

``open_imagery``, ``write_cog``, ``raster_grid``, ``normalise_chunks`` and ``band_selection``
are re-exported from :mod:`reefdask.io.rasters` so that ``from reefdask.io import
open_imagery`` keeps working.
"""

from reefdask.io.rasters import band_selection, normalise_chunks, open_imagery, raster_grid, write_cog

__all__ = ["band_selection", "normalise_chunks", "open_imagery", "raster_grid", "write_cog"]
