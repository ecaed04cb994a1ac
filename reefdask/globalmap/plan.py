"""Set up a global run: inventory, models, domain, store layout and provenance.

The run store (a folder or ``gs://`` prefix) holds ``run.json`` (configuration,
provenance, inventory), ``map.zarr`` (the sparse products, see :mod:`.mapstore`) and
``state/`` (``quads/``: the quads' work records and claims, see :mod:`.statuses`;
``jobs/``: one report per job). The store is opened once here
(:func:`~reefdask.io.store.open_store`) and travels in the :class:`RunPlan`. Every job calls
:func:`open_run`: the first lays the store out, the others find it and check that it
was made by the same models and settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from reefdask.core.grid import Quad
from reefdask.errors import ConfigError, FingerprintMismatchError, InputNotFoundError
from reefdask.globalmap.config import GlobalConfig
from reefdask.globalmap.ensemble import check_members
from reefdask.globalmap.mapstore import MapStore, QuadGrid, grid_attrs
from reefdask.globalmap.quad import Member, QuadTask, RunSpec
from reefdask.io.storage import filesystem, join, read_bytes
from reefdask.io.store import Store, open_store

__all__ = ["RunPlan", "open_run", "read_manifest", "resolve_inventory", "in_domain_test"]


@dataclass
class RunPlan:
    """An opened run: its store, spec shared by quad tasks, and one task per quad."""

    store: Store
    spec: RunSpec
    tasks: dict[str, QuadTask]
    regions: dict[str, str]
    manifest: dict[str, Any]
    config: GlobalConfig

    @property
    def url(self) -> str:
        """The run store's URL."""
        return self.store.url_for()


def resolve_inventory(config: GlobalConfig) -> dict[str, tuple[str, str]]:
    """``{quad id: (source URL, region)}`` from the config's inventory, in id order."""
    from reefdask.acquire.inventory import Inventory, build_inventory, load_inventory

    inv = config.inventory
    opts = dict(config.storage_options)
    if isinstance(inv, list):
        paths: dict[str, int | None] = {}
        for item in inv:
            if item.endswith((".tif", ".tiff")):
                paths[item] = None
            else:
                if config.source_prefix is None:
                    raise ConfigError(
                        f"inventory lists the quad id {item!r} but no source_prefix: set source_prefix "
                        "to the folder that holds <id>.tif, or list .tif URLs."
                    )
                paths[join(config.source_prefix, f"{Quad.parse(item).id}.tif")] = None
        records = Inventory.from_paths(paths).records
    elif inv.endswith((".parquet", ".csv")):
        records = load_inventory(inv, opts).records
    elif any(c in inv for c in "*?["):
        fs, pattern = filesystem(inv, opts)
        prefix = inv.split("://", 1)[0] + "://" if "://" in inv else ""
        records = Inventory.from_paths({f"{prefix}{p}": None for p in sorted(fs.glob(pattern))}).records
    else:
        records = build_inventory(inv, pattern="**/L*-*E-*N.tif", storage_options=opts).records
    out = {r.id: (r.locations[0], r.regions[0] if r.regions else "") for r in records}
    if config.quads is not None:
        wanted = [Quad.parse(q).id for q in config.quads]
        absent = [q for q in wanted if q not in out]
        if absent:
            raise ConfigError(
                f"quads {absent[:5]} are not in the inventory {inv!r}; drop them or fix the inventory."
            )
        out = {q: out[q] for q in sorted(wanted)}
    if not out:
        raise InputNotFoundError(f"The inventory {inv!r} holds no quads (files named L15-XXXXE-YYYYN.tif).")
    return out


def in_domain_test(domain: str | list[float] | None, storage_options: dict[str, Any] | None = None) -> Any:
    """A function ``Quad -> bool`` for the domain mask (always True without one)."""
    if domain is None:
        return lambda q: True
    import shapely
    from shapely.geometry import box, shape

    if isinstance(domain, list):
        geom = box(*domain)
    else:
        data = json.loads(read_bytes(domain, storage_options))
        feats = data.get("features") if data.get("type") == "FeatureCollection" else [data]
        geoms = [shape(f.get("geometry", f)) for f in feats]
        geom = shapely.union_all(geoms)
    shapely.prepare(geom)
    return lambda q: bool(geom.intersects(box(*q.lonlat_bounds())))


def _member(
    url: str, config: GlobalConfig, size: int
) -> tuple[Member, dict[str, Any], dict[str, Any] | None]:
    """One model of the run, resolved by the model contract (the halo rule predict uses too)."""
    from reefdask.core.classes import default_schema
    from reefdask.model.card import read_card
    from reefdask.model.decision import card_decision
    from reefdask.model.fingerprint import model_fingerprint, weights_digest
    from reefdask.model.geometry import geometry, with_card_stride
    from reefdask.model.loading import inspect_model, measure_receptive_field
    from reefdask.model.preprocess import Preprocessing
    from reefdask.predict.model import load_model

    opts = dict(config.storage_options)
    card = read_card(url, opts)
    key = weights_digest(url, opts)[:16]
    model = load_model(url, key, opts)
    info = inspect_model(model)
    info = with_card_stride(info, card)
    stride = info.stride
    schema = card.classes if card and card.classes else default_schema().to_dict()
    pre = Preprocessing(
        bands=tuple(card.bands if card else range(1, info.bands + 1)),
        scaler=card.scaler if card else {"kind": "none"},
        nodata_encoding=card.nodata_encoding if card else -10.0,
        class_codes=tuple(card.codes() or ()) if card else (),
    )
    if info.bands != len(pre.bands):
        raise ConfigError(
            f"Model {url} takes {info.bands} bands but its card selects {list(pre.bands)}; fix the card."
        )
    try:  # quads are the chunks: the halo (config > card > measured) resolves as in predict
        strategy, halo, window, step = geometry(
            "auto",
            info,
            card,
            lambda: measure_receptive_field(model, info),
            size,
            config.halo,
            None,
            "centre",
        )
    except ConfigError as err:
        raise ConfigError(f"Model {url} on quads of {size} px (quad_size): {err}") from err
    fingerprint = model_fingerprint(key, pre)
    member = Member(url, key, fingerprint, pre.to_dict(), halo, stride, strategy, window, step)
    return member, schema, card_decision(card)


def _quad_size(sources: dict[str, tuple[str, str]], config: GlobalConfig) -> int:
    if config.quad_size is not None:
        return config.quad_size
    from reefdask.io.rasters import open_imagery
    from reefdask.io.storage import storage_options_for

    url = next(iter(sources.values()))[0]
    return int(open_imagery(url, storage_options=storage_options_for(url, config.storage_options)).sizes["y"])


def read_manifest(run: Store | str, storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``run.json`` of a run store (a :class:`~reefdask.io.store.Store`, or a URL to open)."""
    store = open_store(run, storage_options)
    try:
        return dict(json.loads(store.read("run.json")))
    except InputNotFoundError as err:
        raise InputNotFoundError(
            f"{store.url_for()} is not a global run (no run.json); start it with `reefdask global run`."
        ) from err


def open_run(config: GlobalConfig) -> RunPlan:
    """Lay out (first job) or open (later jobs) the run store; refuse another model's run."""
    from reefdask import __version__

    opts = dict(config.storage_options)
    store = open_store(config.run.rstrip("/"), opts)  # the run store, opened once and passed down
    url = store.url_for()
    sources = resolve_inventory(config)
    size = _quad_size(sources, config)
    members, schemas, decisions = zip(*(_member(m, config, size) for m in config.models), strict=True)
    if any(s != schemas[0] for s in schemas):
        raise ConfigError(
            "The ensemble's models predict different class schemas; average only models of one schema."
        )
    check_members(members)
    if config.weights is not None and len(config.weights) != len(members):
        raise ConfigError(
            f"weights lists {len(config.weights)} values for {len(members)} models; give one per model."
        )
    level = Quad.parse(next(iter(sources))).level
    if any(size % m.stride for m in members):
        raise ConfigError(
            f"quad_size {size} must be a multiple of every model's stride; pick another quad_size."
        )
    halo = max(m.halo for m in members)
    # the run's threshold wins; else the (first) model card's fitted decision; else argmax
    threshold = (
        {"kind": "threshold", "threshold": config.reef_threshold}
        if config.reef_threshold is not None
        else decisions[0]
    )
    fingerprint = {
        "members": [m.fingerprint for m in members],
        "quad_size": size,
        "level": level,
        "halo": halo,
        "products": sorted(config.products),
        "reef_decision": threshold,
        "weights": config.weights,
        "schema": schemas[0],
    }
    from reefdask.model.fingerprint import short_hash

    manifest: dict[str, Any] = {
        "kind": "reefdask-global-run",
        "fingerprint": short_hash(fingerprint),
        "settings": fingerprint,
        "members": [
            {
                "model": m.url,
                "fingerprint": m.fingerprint,
                "halo": m.halo,
                "weight": None if config.weights is None else config.weights[i],
            }
            for i, m in enumerate(members)
        ],
        "ensemble": len(members) > 1,
        "config": config.model_dump(mode="json"),
        "reefdask_version": __version__,
        "quads": {q: {"source": u, "region": r} for q, (u, r) in sources.items()},
    }
    map_store = store.child("map.zarr")
    if store.exists("run.json"):
        found = read_manifest(store)
        if found.get("fingerprint") != manifest["fingerprint"]:
            raise FingerprintMismatchError(
                f"{url} was made by other models or settings ({found.get('fingerprint')} != "
                f"{manifest['fingerprint']}); use a new run URL, or delete the old run to start over."
            )
        manifest = found
    else:
        keep = ("fingerprint", "members", "ensemble", "reefdask_version", "settings")
        attrs = {**grid_attrs(QuadGrid(level, size)), "provenance": {k: manifest[k] for k in keep}}
        bands = {
            "probabilities": [
                int(c) for c in members[0].preprocessing.get("class_codes") or _codes(schemas[0])
            ],
            "coarse": _coarse_codes(schemas[0]),
            "classes": [],
            "heat": [],
            "outline": [],
        }
        wanted = {k: v for k, v in bands.items() if k in config.products}
        MapStore(map_store).create(QuadGrid(level, size), wanted, attrs)
        store.publish("run.json", json.dumps(manifest, indent=1).encode())
    weights = None if config.weights is None else tuple(config.weights)
    spec = RunSpec(
        map_store,
        tuple(members),
        schemas[0],
        size,
        halo,
        tuple(config.products),
        threshold,
        opts or None,
        weights,
    )
    inside = in_domain_test(config.domain, opts)
    tasks = {}
    inventory: dict[str, dict[str, str]] = manifest["quads"]
    for q, info in inventory.items():
        quad = Quad.parse(q)
        neighbours = {}
        for dy in (1, 0, -1):
            for dx in (-1, 0, 1):
                if (dx or dy) and 0 <= quad.y + dy < quad.quads_per_side:
                    n = quad.offset(dx, dy).id
                    if n in inventory:
                        neighbours[f"{dx},{dy}"] = inventory[n]["source"]
        tasks[q] = QuadTask(q, info["source"], neighbours, inside(quad))
    regions = {q: v["region"] for q, v in inventory.items()}
    return RunPlan(store, spec, tasks, regions, manifest, config)


def _codes(schema: dict[str, Any]) -> list[int]:
    from reefdask.core.classes import ClassSchema

    return [int(c) for c in ClassSchema.from_dict(schema).codes]


def _coarse_codes(schema: dict[str, Any]) -> list[int]:
    from reefdask.core.classes import ClassSchema

    return [int(c) for c in ClassSchema.from_dict(schema).level_codes("coarse")]
