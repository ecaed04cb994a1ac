"""Acquisition: manifests, quad inventories and verified, resumable parallel copies."""

from __future__ import annotations

from reefdask.acquire.inventory import Inventory, QuadRecord, build_inventory, load_inventory
from reefdask.acquire.manifest import Filters, Manifest, Source, load_manifest
from reefdask.acquire.run import AcquireReport, acquire, plan_copies

__all__ = [
    "AcquireReport",
    "Filters",
    "Inventory",
    "Manifest",
    "QuadRecord",
    "Source",
    "acquire",
    "build_inventory",
    "load_inventory",
    "load_manifest",
    "plan_copies",
]
