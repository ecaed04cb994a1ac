"""Band and chunk arguments of the imagery readers, checked once for every format.

Examples
--------
>>> normalise_chunks(256), normalise_chunks({"y": 128, "x": 64})
((256, 256), (128, 64))
>>> band_selection(["blue", 1], ["red", "green", "blue"], [1, 2, 3], "x.tif")
[2, 0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from reefdask.errors import ConfigError

__all__ = ["BandSpec", "band_selection", "normalise_chunks"]

#: bands to keep: 1-based numbers as GDAL counts them, names, one of either, or None for all
BandSpec = Sequence[int | str] | int | str | None


def normalise_chunks(chunks: int | tuple[int, int] | dict[str, int]) -> tuple[int, int]:
    """``(y, x)`` chunk sizes from an int, a pair or a dict; positive or :class:`ConfigError`.

    >>> normalise_chunks((512, 256))
    (512, 256)
    """
    if isinstance(chunks, dict):
        pair = (chunks.get("y", 1024), chunks.get("x", 1024))
    elif isinstance(chunks, int | np.integer):
        pair = (int(chunks), int(chunks))
    else:
        pair = tuple(chunks)  # type: ignore[assignment]
    if len(pair) != 2 or not all(isinstance(c, int | np.integer) and c > 0 for c in pair):
        raise ConfigError(f"chunks={chunks!r} is not a positive size; pass an int such as 1024 or (y, x).")
    return int(pair[0]), int(pair[1])


def band_selection(bands: BandSpec, names: list[str], numbers: list[int], url: str) -> list[int]:
    """Positions (0-based, into ``numbers``) of the bands named by ``bands``.

    >>> band_selection("green", ["red", "green", "blue"], [1, 2, 3], "x.tif")
    [1]
    """
    if bands is None:
        return list(range(len(numbers)))
    wanted = as_list(bands)
    lowered = [n.lower() for n in names]
    picked = []
    for b in wanted:
        if isinstance(b, str) and b.lower() in lowered:
            picked.append(lowered.index(b.lower()))
        elif isinstance(b, int | np.integer) and int(b) in numbers:
            picked.append(numbers.index(int(b)))
        else:
            raise ConfigError(
                f"bands={bands!r}: {b!r} is not a data band of {url}; choose among numbers "
                f"{numbers} or names {names} (1-based, as GDAL counts)."
            )
    return picked


def as_list(bands: BandSpec) -> list[Any]:
    """``bands`` as a list (``None`` gives an empty one)."""
    return [bands] if isinstance(bands, int | str) else list(bands or [])
