"""Which scenes of a cube are complete: the work layer's records under ``STORE/_ingest/``.

A scene is a unit of :mod:`reefdask.work`: ingest claims it (``STORE/_ingest/_claims/<scene>``)
before it writes the scene's template, and records ``STORE/_ingest/<scene>.done.json``
(through the claim, so a job whose claim was taken over records nothing) only after
every chunk of the scene is stored. One listing of ``_ingest/`` therefore tells which
scenes are complete; failed scenes have ``<scene>.failed.<class>.json`` records with
their reasons. The ``_ingest`` folder is not a Zarr group, so Zarr never lists it as a
scene.

Cubes written before the work layer marked completion in the scene group's
``reefdask_status`` attribute; such scenes still read as complete (:func:`is_complete`).
A new ingest's template carries no ``reefdask_status``: the record is the only mark.

Examples
--------
>>> from reefdask.io.store import open_store
>>> work = scene_work(open_store("memory://doc-scenes.zarr"), owner="job-1")
>>> claim = work.claim("L15-0001E-0001N")
>>> work.record(claim, {"bytes": 12})
'done'
>>> work.finish(claim, "done")
>>> sorted(done_scenes(work.store)), is_complete(work.store, "L15-0001E-0001N", {})
(['L15-0001E-0001N'], True)
"""

from __future__ import annotations

from typing import Any

from reefdask.io.store import Store
from reefdask.work import Records, Work

__all__ = ["INGEST_PREFIX", "LEGACY_STATUS_KEY", "scene_work", "done_scenes", "is_complete", "status_of"]

#: where a cube's scene records and claims live
INGEST_PREFIX = "_ingest"
_GROUP_DOC = b'{"zarr_format": 3, "node_type": "group", "attributes": {"reefdask": "scene records"}}'
#: the scene attribute older cubes used to mark completion ("writing" / "complete")
LEGACY_STATUS_KEY = "reefdask_status"


def scene_work(store: Store, *, owner: str | None = None, ttl: float = 1800.0) -> Work:
    """The unit-of-work records and claims of a cube's scenes (``_ingest`` marked a Zarr group)."""
    if not store.exists(f"{INGEST_PREFIX}/zarr.json"):  # so Zarr does not warn about an unknown folder
        store.publish(f"{INGEST_PREFIX}/zarr.json", _GROUP_DOC)
    return Work(store, INGEST_PREFIX, owner=owner, ttl=ttl)


def done_scenes(store: Store) -> set[str]:
    """Scenes recorded done (one listing)."""
    return set(Records(store, INGEST_PREFIX).scan().units("done"))


def is_complete(store: Store | None, scene: str, attrs: dict[str, Any], done: set[str] | None = None) -> bool:
    """Whether ``scene`` is complete: recorded done, or marked complete by an older ingest.

    ``done`` is :func:`done_scenes` when already listed; otherwise one existence check.
    """
    if attrs.get(LEGACY_STATUS_KEY) == "complete":
        return True
    if done is not None or store is None:
        return scene in (done or ())
    return bool(store.exists(f"{INGEST_PREFIX}/{scene}.done.json"))


def status_of(store: Store, scene: str, attrs: dict[str, Any]) -> str:
    """``complete``, ``failed (<class>: <reason>)`` or ``writing`` (started, never finished)."""
    if is_complete(store, scene, attrs):
        return "complete"
    records = Records(store, INGEST_PREFIX)
    entry = records.scan().get(scene)
    if entry is not None and entry.status == "failed":
        rec = records.read(entry.names[0])
        return f"failed ({entry.detail}: {rec.reason if rec else ''})"
    return "writing"
