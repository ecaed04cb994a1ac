"""Draw training windows from scenes into a Zarr sample store, in parallel and bounded memory.

Steps of :func:`build_samples`:

0. **Scenes**: features come from rasters or from scenes of a Zarr imagery cube
   (:mod:`reefdask.cube`), labels from rasters on the same grid (same shape and
   transform: ``reefdask clean`` rasterizes labels onto the imagery grid).
1. **Candidates**: windows of ``2r`` px whose top-left corners lie on a grid of step
   ``stride`` (default ``2l``), entirely inside the raster.
2. **Statistics** (one Dask task per batch of candidates; each reads its windows only):
   feature nodata fraction, label nodata fraction (features' nodata counts as label
   nodata), fraction outside the boundary, and the class histogram of the loss window.
3. **Rejection**: above ``max_feature_nodata`` / ``max_response_nodata`` /
   ``max_outside_boundary``; loss window without any label; loss window holding only
   ``background_classes``.
4. **Spatial folds**: each scene is cut into square blocks of ``fold_block`` px
   (default ``4r``); the blocks of all scenes are shuffled with the seed and dealt to
   the ``k`` folds in turn. A window belongs to the fold of the blocks its footprint
   covers; a window whose footprint covers blocks of two folds is dropped. Hence the
   footprints of two windows of different folds never share a pixel: overlapping
   (nearby) windows cannot end up on both sides of a train / validation split.
5. **Class-aware selection**: each accepted window gets a preference ``w`` (``none``:
   1; ``oversample``: the mean over its loss-window pixels of ``freq(class)^-power``;
   ``proportions``: the mean of ``target(class) / freq(class)``), and a random key
   ``u^(1/w)`` (weighted sampling without replacement). The best keys fill each scene's
   quota (``max_per_scene``, default ``max_samples / n_scenes``), then the total quota.
6. **Writing**: samples sorted by fold (shuffled within), one Dask task per chunk of
   ``chunk_samples`` windows reads and writes its own region; then class counts over the
   training folds' loss windows give inverse-frequency weights ``N / (K n_c)``
   (``K`` classes present), written per chunk: zero outside the loss window and on nodata.

The store is one unit of :mod:`reefdask.work`: a build claims it, and records it done
(``_work/samples.done.json``, with the configuration hash) last, through its claim.
Building again with the same configuration does nothing; another configuration is
refused (differences listed) unless ``rebuild`` is set; an unfinished store is rebuilt;
a store another live build holds is refused.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import Any

import numpy as np

from reefdask import __version__
from reefdask.config import config_hash
from reefdask.errors import ConfigError, InputNotFoundError, StoreError
from reefdask.train.config import SamplesConfig, SceneSpec
from reefdask.train.sample_writer import write_store
from reefdask.train.selection import _REASONS, _assign_folds, _candidates, _order, _reject, _select
from reefdask.train.store import UNIT, is_complete, open_group, samples_work
from reefdask.train.windows import SceneInfo, SceneReader, cube_scene_info, label_lut, scene_info
from reefdask.work import Claim

__all__ = ["SampleReport", "build_samples", "resolve_scenes", "config_differences"]

_STATS_BATCH = 64


@dataclass
class SampleReport:
    """What a build did (or found already done)."""

    store: str
    built: bool
    n_samples: int
    candidates: int = 0
    per_fold: dict[int, int] = field(default_factory=dict)
    per_scene: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def resolve_scenes(cfg: SamplesConfig) -> list[SceneSpec]:
    """The config's scenes, plus ``features_glob`` / ``cube`` scenes with labels from ``labels_dir``.

    A glob's feature raster takes the label raster of the same file name; a cube's
    complete scene ``S`` takes ``labels_dir/S.tif``.
    """
    scenes = list(cfg.scenes)
    if cfg.features_glob:
        paths = sorted(glob(cfg.features_glob))
        if not paths:
            raise InputNotFoundError(f"features_glob {cfg.features_glob!r} matches no file; fix the pattern.")
        for p in paths:
            lab = str(Path(str(cfg.labels_dir)) / Path(p).name)
            scenes.append(SceneSpec(features=p, labels=lab))
    if cfg.cube:
        from reefdask.cube.store import list_scenes

        ids = list_scenes(cfg.cube)
        if not ids:
            raise InputNotFoundError(
                f"cube {cfg.cube!r} holds no complete scene; ingest imagery with `reefdask ingest` first."
            )
        for sid in ids:
            lab = str(Path(str(cfg.labels_dir)) / f"{sid}.tif")
            scenes.append(SceneSpec(cube=cfg.cube, scene=sid, labels=lab, name=sid))
    return scenes


def _hashable_config(cfg: SamplesConfig) -> dict[str, Any]:
    d = cfg.model_dump(mode="json")
    d.pop("rebuild")
    # keys added with cube sources: left out while unset, so older stores keep their hash
    if d.get("cube") is None:
        d.pop("cube", None)
    for scene in d.get("scenes", []):
        for key in ("cube", "scene"):
            if scene.get(key) is None:
                scene.pop(key, None)
    return d


def _scene_info(spec: SceneSpec) -> SceneInfo:
    if spec.cube is not None:
        return cube_scene_info(spec.name or spec.scene, spec.cube, spec.scene, spec.labels, spec.boundary)
    features = str(spec.features)
    return scene_info(spec.name or Path(features).stem, features, spec.labels, spec.boundary)


def config_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts, as ``key: old -> new``."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b, key = old.get(k), new.get(k), f"{prefix}{k}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, key + ".")
        elif a != b:
            out.append(f"{key}: {_short(a)} -> {_short(b)}")
    return out


def _short(value: Any, width: int = 100) -> str:
    """``repr(value)``, cut to ``width`` characters (a changed list of 16 scenes stays one line).

    >>> _short(list(range(100)), width=20)
    '[0, 1, 2, 3, 4, ...'
    """
    r = repr(value)
    return r if len(r) <= width else r[: width - 4] + " ..."


def build_samples(cfg: SamplesConfig, *, client: Any = None) -> SampleReport:
    """Build (or confirm) the sample store described by ``cfg``; see the module docstring."""
    t0 = time.perf_counter()
    chash = config_hash(_hashable_config(cfg))
    existing = _existing(cfg.store)
    if existing is not None and is_complete(cfg.store, existing):
        if existing.get("config_hash") == chash:
            return SampleReport(
                cfg.store,
                False,
                int(existing["n_samples"]),
                per_fold={int(k): v[1] - v[0] for k, v in existing["fold_ranges"].items()},
            )
        if not cfg.rebuild:
            diffs = config_differences(existing.get("config", {}), _hashable_config(cfg))
            raise ConfigError(
                f"Sample store {cfg.store} was built with another configuration:\n  "
                + "\n  ".join(diffs or ["(unknown)"])
                + "\nSet `rebuild: true` to replace it, or write to another store."
            )
    work = samples_work(cfg.store, marked=True)
    claim = work.claim(UNIT, overwrite=True)  # a rebuild: the old record goes once it is ours
    if isinstance(claim, str):
        holder = work.claims.holder(UNIT) or {}
        raise StoreError(
            f"Sample store {cfg.store} is being built by {holder.get('owner', 'another run')}; wait for it "
            "to finish (then this build is a no-op) or write to another store."
        )
    status = "failed"
    try:
        with claim.keep():  # renewed while the windows are chosen and written
            report, info = _build(cfg, chash, client, claim)
        status = work.record(claim, info)
    finally:
        work.finish(claim, status)
    report.seconds = time.perf_counter() - t0
    return report


def _build(cfg: SamplesConfig, chash: str, client: Any, claim: Claim) -> tuple[SampleReport, dict[str, Any]]:
    """Choose the windows and write the store (steps 0-6); the report and the record's facts."""
    from reefdask.config import load_schema

    schema = load_schema(cfg.class_schema)
    lut = label_lut(schema.codes)
    bg = np.array([schema.index_of_code[c] for c in cfg.background_classes if c in schema.index_of_code], int)
    specs = resolve_scenes(cfg)
    infos = [_scene_info(s) for s in specs]
    _check_compatible(infos)
    size = 2 * cfg.window_radius
    cand = _candidates(infos, size, cfg.resolved_stride())
    stats = _compute(_stats_tasks(infos, cand, cfg, lut, schema.n_classes), client)
    fnd, rnd, out, hist = (np.concatenate([s[i] for s in stats]) if stats else np.zeros(0) for i in range(4))
    hist = hist.reshape(len(cand), schema.n_classes) if len(cand) else np.zeros((0, schema.n_classes))
    folds = _assign_folds(infos, cand, cfg, size)
    reasons = _reject(fnd, rnd, out, hist, bg, folds, cfg)
    ok = reasons == -1
    chosen = _select(cand, hist, ok, cfg, len(infos), schema.codes)
    order = _order(chosen, folds, cfg)
    sel, sel_folds = cand[order], folds[order]
    attrs = write_store(cfg, infos, sel, sel_folds, schema, lut, chash, client, version=__version__,
                        config=_hashable_config(cfg), claim=claim)  # fmt: skip
    info = {"config_hash": chash, "n_samples": len(sel), "fold_ranges": attrs["fold_ranges"]}
    per_scene = {i.name: int((sel[:, 0] == k).sum()) for k, i in enumerate(infos)}
    rejected = {r: int((reasons == k).sum()) for k, r in enumerate(_REASONS)}
    per_fold = {f: int((sel_folds == f).sum()) for f in range(cfg.n_folds)}
    return SampleReport(cfg.store, True, len(sel), len(cand), per_fold, per_scene, rejected), info


def _existing(url: str) -> dict[str, Any] | None:
    try:
        return dict(open_group(url, "r").attrs)
    except (FileNotFoundError, KeyError, ValueError):
        return None


def _check_compatible(infos: list[SceneInfo]) -> None:
    from reefdask.errors import IncompatibleScenesError

    if not infos:
        raise ConfigError("The samples config names no scene; add `scenes` or `features_glob`.")
    first = infos[0]
    for i in infos[1:]:
        if len(i.bands) != len(first.bands) or i.dtype != first.dtype:
            raise IncompatibleScenesError(
                f"Scene {i.name} has {len(i.bands)} {i.dtype} bands, {first.name} {len(first.bands)} "
                f"{first.dtype}; sample scenes with the same bands and type together."
            )


def _stats_tasks(
    infos: list[SceneInfo], cand: np.ndarray, cfg: SamplesConfig, lut: np.ndarray, n: int
) -> list:
    import dask

    size, c = 2 * cfg.window_radius, cfg.window_radius - cfg.loss_window_radius
    fn = dask.delayed(_window_stats, pure=True)
    tok = uuid.uuid4().hex[:8]  # dashboard names: samples-stats-<build>-<first candidate>
    return [
        fn(infos, cand[a : a + _STATS_BATCH], size, c, lut, n, dask_key_name=f"samples-stats-{tok}-{a}")
        for a in range(0, len(cand), _STATS_BATCH)
    ]


def _window_stats(
    infos: list[SceneInfo], cand: np.ndarray, size: int, c: int, lut: np.ndarray, n: int
) -> tuple:
    fnd, rnd, out, hist = [], [], [], []
    readers: dict[int, SceneReader] = {}
    for s, r, col in cand:
        rd = readers.setdefault(int(s), SceneReader(infos[s]))
        _, valid = rd.features(r, col, size)
        lab = rd.labels(r, col, size, lut)
        lab[~valid] = 255
        fnd.append(1 - valid.mean())
        rnd.append((lab == 255).mean())
        out.append(1 - rd.boundary(r, col, size).mean())
        inner = lab[c : size - c, c : size - c]
        hist.append(np.bincount(inner[inner != 255], minlength=n)[:n])
    for rd in readers.values():
        rd.__exit__()
    return (np.array(fnd), np.array(rnd), np.array(out), np.array(hist, "int64").reshape(-1))


def _compute(tasks: list, client: Any) -> list:
    import dask

    if not tasks:
        return []
    if client is not None:
        return list(client.gather(client.compute(tasks)))
    return list(dask.compute(*tasks, scheduler="threads"))
