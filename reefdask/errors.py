"""The one exception hierarchy of reefdask.

Every error a user can cause is a :class:`ReefdaskError`. Subclasses also inherit
the matching builtin, so ``except FileNotFoundError`` keeps working, and every
message says what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ReefdaskError",
    "ConfigError",
    "InputNotFoundError",
    "NotARasterError",
    "MissingCRSError",
    "IncompatibleScenesError",
    "QuadIdError",
    "SchemaError",
    "StoreError",
    "FingerprintMismatchError",
    "ModelError",
    "GridMismatchError",
]


class ReefdaskError(Exception):
    """Root of every error reefdask raises on purpose."""


class ConfigError(ReefdaskError, ValueError):
    """A configuration is invalid: the message names the key path and the fix."""


class InputNotFoundError(ReefdaskError, FileNotFoundError):
    """An input path or URL does not exist."""


class NotARasterError(ReefdaskError, ValueError):
    """An input exists but cannot be read as a raster (corrupt or not a raster)."""


class MissingCRSError(ReefdaskError, ValueError):
    """A raster has no coordinate reference system."""


class IncompatibleScenesError(ReefdaskError, ValueError):
    """Scenes that must agree (bands, dtype, CRS) do not."""


class QuadIdError(ReefdaskError, ValueError):
    """A quad id is malformed or outside the grid."""


class SchemaError(ReefdaskError, ValueError):
    """A class schema is inconsistent."""


class StoreError(ReefdaskError, OSError):
    """A store cannot be opened or written as asked."""


class FingerprintMismatchError(ReefdaskError, ValueError):
    """An existing output was made by another model or configuration."""


class ModelError(ReefdaskError, ValueError):
    """A model cannot be loaded or does not fit the data."""


class GridMismatchError(ReefdaskError, ValueError):
    """Two rasters that must share a grid (CRS, transform, shape) do not: align them explicitly."""
