"""The Zarr (v3) sample store: layout, and reading it back.

Layout of a store (one Zarr group)::

    features   (n, 2r, 2r, band)  feature dtype, raw values   chunks (c, 2r, 2r, band)
    responses  (n, 2r, 2r)        uint8 channel index, 255 = nodata  chunks (c, 2r, 2r)
    weights    (n, 2r, 2r)        float32 per-pixel loss weight      chunks (c, 2r, 2r)
    fold, scene, row, col  (n,)   fold id, scene index, window's top-left pixel in the scene

Samples are sorted by fold (shuffled within each fold), so every split is a few
contiguous index ranges (``attrs["fold_ranges"]``). The group's attributes hold the
configuration and its hash, the scenes, the class schema, class counts and weights,
provenance.

Completion is the work layer's record (:mod:`reefdask.work`): a store is finished when
``_work/samples.done.json`` exists inside it (its info holds the configuration hash and
sample count), written last, through the build's claim ``_work/_claims/samples`` (so two
builds into one store never both write it). Stores built before the work layer carry
``attrs["complete"] = True`` instead, which still reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reefdask.errors import InputNotFoundError, StoreError
from reefdask.io.storage import is_local, storage_options_for, strip_protocol
from reefdask.io.store import open_store
from reefdask.work import Work

__all__ = ["SampleStore", "open_group", "open_samples", "is_complete", "samples_work", "SPLITS", "UNIT"]

SPLITS = ("train", "validation", "test")
#: the one unit of work of a sample store
UNIT = "samples"
_GROUP_DOC = b'{"zarr_format": 3, "node_type": "group", "attributes": {"reefdask": "work records"}}'


def samples_work(url: str, storage_options: dict[str, Any] | None = None, *, marked: bool = False) -> Work:
    """The work layer's records and claims of the sample store at ``url`` (``_work/`` inside it).

    ``marked`` writes ``_work/zarr.json`` so Zarr reads the folder as a group, not an unknown object.
    """
    store = open_store(url, storage_options_for(url, storage_options))
    if marked and not store.exists("_work/zarr.json"):
        store.publish("_work/zarr.json", _GROUP_DOC)
    return Work(store, "_work", ttl=3600.0)


def is_complete(url: str, attrs: dict[str, Any], storage_options: dict[str, Any] | None = None) -> bool:
    """Whether the store at ``url`` is finished: recorded done, or (older stores) ``attrs["complete"]``."""
    if attrs.get("complete") is True:
        return True
    return samples_work(url, storage_options).records.finished(UNIT)


def open_group(url: str, mode: str = "r", storage_options: dict[str, Any] | None = None) -> Any:
    """Open the Zarr v3 group at ``url`` (local path or fsspec URL)."""
    import zarr

    if is_local(url):
        return zarr.open_group(strip_protocol(url), mode=mode, zarr_format=3)
    return zarr.open_group(
        url, mode=mode, zarr_format=3, storage_options=storage_options_for(url, storage_options)
    )


@dataclass
class SampleStore:
    """A finished sample store, opened for reading."""

    url: str
    group: Any

    @property
    def attrs(self) -> dict[str, Any]:
        """The store's attributes (configuration, classes, provenance)."""
        return dict(self.group.attrs)

    def __len__(self) -> int:
        return int(self.group["fold"].shape[0])

    @property
    def window(self) -> int:
        """Window side ``2r`` in pixels."""
        return int(self.group["features"].shape[1])

    @property
    def n_bands(self) -> int:
        """Number of feature bands."""
        return int(self.group["features"].shape[-1])

    @property
    def chunk(self) -> int:
        """Samples per chunk."""
        return int(self.group["features"].chunks[0])

    def folds_of(self, split: str) -> list[int]:
        """The fold ids of ``split`` (train, validation or test)."""
        a = self.group.attrs
        val, test = a["validation_fold"], a.get("test_fold")
        if split == "validation":
            return [val]
        if split == "test":
            return [] if test is None else [test]
        if split == "train":
            return [f for f in range(a["n_folds"]) if f not in (val, test)]
        raise StoreError(f"Unknown split {split!r}; use one of {SPLITS}.")

    def ranges(self, split: str) -> list[tuple[int, int]]:
        """Contiguous ``[start, stop)`` index ranges of the samples of ``split``."""
        fr = self.group.attrs["fold_ranges"]
        out = [tuple(fr[str(f)]) for f in self.folds_of(split) if fr[str(f)][1] > fr[str(f)][0]]
        return [(int(a), int(b)) for a, b in out]

    def indices(self, split: str) -> np.ndarray:
        """Sample indices of ``split``."""
        rs = self.ranges(split)
        return np.concatenate([np.arange(a, b) for a, b in rs]) if rs else np.zeros(0, "int64")

    def dask(self, name: str, split: str | None = None) -> Any:
        """A Dask array of ``name`` (optionally only the samples of ``split``), read lazily."""
        import dask.array as da

        arr = da.from_zarr(self.group[name])
        if split is None:
            return arr
        parts = [arr[a:b] for a, b in self.ranges(split)]
        if not parts:
            raise StoreError(f"Sample store {self.url} has no {split} samples; add scenes or lower n_folds.")
        return da.concatenate(parts, axis=0)

    def read(self, name: str, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` of array ``name`` as NumPy."""
        return np.asarray(self.group[name][start:stop])


def open_samples(url: str, storage_options: dict[str, Any] | None = None) -> SampleStore:
    """Open a finished sample store; unfinished or missing stores raise with the fix."""
    try:
        group = open_group(url, "r", storage_options)
    except (FileNotFoundError, KeyError) as err:
        raise InputNotFoundError(
            f"Sample store {url} does not exist; build it with `reefdask samples`."
        ) from err
    if not is_complete(url, dict(group.attrs), storage_options):
        raise StoreError(f"Sample store {url} is unfinished; run `reefdask samples` with its config again.")
    return SampleStore(url, group)
