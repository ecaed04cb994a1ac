"""Old home of the conditional objects; they are versioned objects of :mod:`reefdask.io.store` now.

Kept so that old imports work: :class:`LocalVersionedStore` is
:class:`~reefdask.io.store_local.LocalStore`, :class:`GCSVersionedStore` is
:class:`~reefdask.io.store_gcs.GCSStore` and :func:`open_versioned_store` is
:func:`~reefdask.io.store.open_store` (refusing ``memory://``, which cannot keep
processes apart). Their methods are the store's: ``get`` / ``create`` / ``update`` /
``delete`` / ``list``.
"""

from __future__ import annotations

from typing import Any

from reefdask.errors import StoreError
from reefdask.io.store import Store, Versioned, open_store
from reefdask.io.store_gcs import GCSStore as GCSVersionedStore
from reefdask.io.store_local import LocalStore as LocalVersionedStore

__all__ = ["Versioned", "VersionedStore", "LocalVersionedStore", "GCSVersionedStore", "open_versioned_store"]

VersionedStore = Store


def open_versioned_store(url: str, storage_options: dict[str, Any] | None = None) -> Store:
    """The store for leases at ``url``: one that keeps processes apart."""
    store = open_store(url, storage_options)
    if store.scope == "process":
        raise StoreError(
            f"Leases need a store that keeps processes apart; {url} is not one (scope {store.scope!r}). "
            "Put the run on a filesystem path or a GCS bucket."
        )
    return store
