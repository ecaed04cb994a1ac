"""Plan a prediction before running it: grid, halo, strategy, fingerprint, what is left.

:func:`plan_prediction` reads the model's card, the imagery's metadata, the output
store's provenance and ledger (and the model itself only when the store has not cached
its shapes: rerunning a finished prediction never imports TensorFlow), and returns a
:class:`PredictionPlan` that prints readably and can be inspected or tested without
computing anything.

Edges: beyond the data, tiles are padded with the model nodata encoding (-10), the
value the model saw for nodata in training; a chunked run therefore equals one model
call on the whole scene padded by the halo the same way (see the tests).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from reefdask.core.nodata import MODEL_NODATA, get_nodata
from reefdask.errors import ConfigError, ModelError
from reefdask.io.store import Store, open_store
from reefdask.model.fingerprint import model_fingerprint, short_hash, weights_digest
from reefdask.model.geometry import batch_size as _batch_size
from reefdask.model.geometry import class_codes as _codes
from reefdask.model.geometry import geometry as _geometry
from reefdask.model.geometry import with_card_stride
from reefdask.model.loading import ModelInfo, inspect_model, measure_receptive_field
from reefdask.model.preprocess import Preprocessing
from reefdask.predict.ledger import Ledger
from reefdask.predict.model import load_model
from reefdask.predict.output import check_provenance, read_provenance

__all__ = ["PredictionPlan", "plan_prediction", "resolve_imagery"]


@dataclass
class PredictionPlan:
    """Everything a prediction will do, decided before anything runs."""

    scene: str
    imagery: str
    store: str
    model: str
    model_key: str
    fingerprint: str
    config: dict[str, Any]
    config_hash: str
    strategy: str  # "tiles" | "centre" | "blend"
    chunk: int
    halo: int
    stride: int
    window: int | None
    step: int | None
    shape: tuple[int, int, int]
    n_classes: int
    class_codes: tuple[int, ...]
    output_dtype: str
    batch_size: int
    preprocessing: Preprocessing
    preprocessing_source: str
    nodata: float | None
    overwrite: bool
    store_state: str  # "new" | "resume" | "overwrite"
    statuses: dict[tuple[int, int], str] = field(default_factory=dict)
    storage_options: dict[str, Any] | None = None
    source: Any = field(default=None, repr=False)
    #: the output :class:`~reefdask.io.store.Store`, opened once here and passed down by the run
    output: Any = field(default=None, repr=False)
    model_info: dict[str, Any] = field(default_factory=dict)  # shapes read off the model, cached in the store

    @property
    def grid(self) -> tuple[int, int]:
        """Chunks along y and x."""
        return -(-self.shape[1] // self.chunk), -(-self.shape[2] // self.chunk)

    @property
    def chunks(self) -> list[tuple[int, int]]:
        """All chunk positions, row-major."""
        ny, nx = self.grid
        return [(r, c) for r in range(ny) for c in range(nx)]

    def _with(self, status: str) -> list[tuple[int, int]]:
        return [k for k in self.chunks if self.statuses.get(k) == status]

    @property
    def done(self) -> list[tuple[int, int]]:
        """Chunks recorded done."""
        return self._with("done")

    @property
    def skipped(self) -> list[tuple[int, int]]:
        """Chunks recorded skipped (all nodata)."""
        return self._with("skipped")

    @property
    def failed(self) -> list[tuple[int, int]]:
        """Chunks recorded failed (they are retried)."""
        return self._with("failed")

    @property
    def todo(self) -> list[tuple[int, int]]:
        """Chunks this run will compute: everything not done or skipped."""
        return [k for k in self.chunks if self.statuses.get(k) not in ("done", "skipped")]

    def describe(self) -> str:
        """The plan as a few readable lines."""
        b, h, w = self.shape
        ny, nx = self.grid
        strat = {
            "tiles": f"tiles (one call per chunk + halo, stride {self.stride})",
            "centre": f"windows {self.window} px every {self.step} px, centre crop",
            "blend": f"windows {self.window} px every {self.step} px, Hann blend",
        }[self.strategy]
        unit = "percent 0-100, 255 = nodata" if self.output_dtype == "uint8" else "float32, NaN = nodata"
        return "\n".join(
            [
                f"Prediction plan for scene {self.scene}",
                f"  imagery   : {self.imagery} ({b} bands x {h} x {w}, nodata {self.nodata})",
                f"  model     : {self.model}",
                f"  fingerprint: {self.fingerprint} (preprocessing from {self.preprocessing_source}: "
                f"bands {list(self.preprocessing.bands)}, scaler {self.preprocessing.scaler.get('kind')})",
                f"  strategy  : {strat}",
                f"  chunk     : {self.chunk} px, halo {self.halo} px, grid {ny} x {nx} = {ny * nx} chunks",
                f"  store     : {self.store} ({self.store_state}, config {self.config_hash})",
                f"  ledger    : {len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed"
                f" (retried), {len(self.todo)} to do",
                f"  outputs   : probabilities (class={self.n_classes}, y, x) {self.output_dtype} ({unit}); "
                f"classes (y, x) uint8 codes {list(self.class_codes)}, 255 = nodata",
            ]
        )

    def __str__(self) -> str:
        return self.describe()

    def _repr_html_(self) -> str:
        from reefdask.reporting.html import pre

        return pre(self.describe())


class _ModelFacts:
    """A model's shapes (and measured receptive field), from the store's cache or the model itself.

    An output store records them in its provenance keyed by the weights digest, so
    planning a rerun of that model needs no TensorFlow; otherwise the model is loaded.
    """

    def __init__(
        self, model: str, key: str, storage_options: dict[str, Any] | None, cached: dict[str, Any] | None
    ):
        self.model, self.key, self.storage_options = model, key, storage_options
        self._keras: Any = None
        if cached and cached.get("model_key") == key:
            self.info = ModelInfo(
                int(cached["bands"]), int(cached["n_classes"]), cached["window"], int(cached["stride"])
            )
            self.rf: int | None = cached.get("receptive_field")
        else:
            self.info, self.rf = inspect_model(self.keras()), None

    def keras(self) -> Any:
        """The loaded Keras model (loaded on first use only)."""
        if self._keras is None:
            self._keras = load_model(self.model, self.key, self.storage_options)
        return self._keras

    def receptive_field(self, info: ModelInfo) -> int:
        """The measured receptive field (measured once; then cached in the store)."""
        if self.rf is None:
            self.rf = measure_receptive_field(self.keras(), info)
        return self.rf

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the store's provenance."""
        return {"model_key": self.key, **asdict(self.info), "receptive_field": self.rf}


def resolve_imagery(
    imagery: Any, chunk: int, storage_options: dict[str, Any] | None = None
) -> tuple[Any, str]:
    """``(DataArray (band, y, x), description)`` from a DataArray or a URL (via ``open_imagery``)."""
    import xarray as xr

    if isinstance(imagery, xr.DataArray):
        da, desc = imagery, f"<DataArray {imagery.name or 'imagery'}>"
    else:
        import reefdask.cube.store  # noqa: F401  (registers the reader of cube scenes, STORE/SCENE)
        from reefdask.io.rasters import open_imagery

        # read blocks a quarter of a chunk wide: a task's chunk + halo then reads little beyond itself
        read = chunk // 4 if chunk >= 512 and chunk % 4 == 0 else chunk
        da, desc = open_imagery(str(imagery), chunks=read, storage_options=storage_options), str(imagery)
    if tuple(da.dims) != ("band", "y", "x"):
        raise ConfigError(
            f"Imagery {desc} has dims {da.dims}; reefdask wants ('band', 'y', 'x'): "
            "transpose it with da.transpose('band', 'y', 'x')."
        )
    if "band" not in da.coords:
        da = da.assign_coords(band=np.arange(1, da.sizes["band"] + 1))
    return da, desc


def _scene_name(imagery: Any, da: Any, scene: str | None) -> str:
    if scene is None:
        if isinstance(imagery, str) or hasattr(imagery, "__fspath__"):
            scene = re.split(r"[/\\]", str(imagery).rstrip("/"))[-1].split(".")[0]
        else:
            scene = str(da.attrs.get("scene") or da.name or "scene")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", scene) or "scene"


def plan_prediction(
    imagery: Any,
    model: str,
    store: Store | str,
    *,
    chunk: int = 1024,
    halo: int | None = None,
    strategy: str = "auto",
    batch_size: int | None = None,
    output_dtype: str = "uint8",
    overwrite: bool = False,
    window: int | None = None,
    window_mode: str = "centre",
    bands: list[int] | None = None,
    scaler: dict[str, Any] | None = None,
    classes: Any = None,
    scene: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> PredictionPlan:
    """Decide everything about a prediction without computing any chunk.

    Parameters are those of :func:`reefdask.predict`. ``bands``/``scaler``/``classes``
    override the model card; without a card they default to every imagery band, no
    scaling, and the default class schema (or ``1..n``).

    Raises
    ------
    FingerprintMismatchError
        The store holds output of another model, preprocessing or configuration
        (and ``overwrite`` is False).
    """
    from reefdask.model.card import read_card

    if output_dtype not in ("uint8", "float32"):
        raise ConfigError(f"output_dtype {output_dtype!r} is unknown; use 'uint8' or 'float32'.")
    if chunk <= 0:
        raise ConfigError(f"chunk must be positive, got {chunk}.")
    model = str(model)
    da, desc = resolve_imagery(imagery, chunk, storage_options)
    card = read_card(model, storage_options)
    labels = [int(b) for b in da.coords["band"].values]
    pre = Preprocessing(
        bands=tuple(bands or (card.bands if card else labels)),
        scaler=scaler or (card.scaler if card else {"kind": "none"}),
        nodata_encoding=card.nodata_encoding if card else MODEL_NODATA,
    )
    pre.band_indices(labels)
    source_of_pre = "arguments" if (bands or scaler) else ("model card" if card else "defaults")
    model_key = weights_digest(model, storage_options)[:16]
    out = open_store(store, storage_options)
    found = None if overwrite else read_provenance(out)
    facts = _ModelFacts(model, model_key, storage_options, (found or {}).get("model_info"))
    info = facts.info
    if info.bands != len(pre.bands):
        raise ModelError(
            f"The model takes {info.bands} bands but preprocessing selects {list(pre.bands)}; "
            "pass bands=[...] (--bands) matching the model."
        )
    info = with_card_stride(info, card)
    codes = _codes(classes, card, info.n_classes)
    pre = Preprocessing(pre.bands, pre.scaler, pre.nodata_encoding, codes)
    fingerprint = model_fingerprint(model_key, pre)
    strat, halo_px, size, step = _geometry(
        strategy, info, card, lambda: facts.receptive_field(info), chunk, halo, window, window_mode
    )
    name = _scene_name(imagery, da, scene)
    transform = (
        [float(da.x.values[0]), float(da.y.values[0])] if "x" in da.coords and "y" in da.coords else []
    )
    config = {
        "scene": name,
        "imagery": desc,
        "shape": list(da.shape),
        "dtype": str(da.dtype),
        "bands": labels,
        "origin": transform,
        "chunk": chunk,
        "halo": halo_px,
        "strategy": strat,
        "window": size,
        "step": step,
        "output_dtype": output_dtype,
        "class_codes": list(codes),
    }
    config_hash = short_hash(config)
    statuses: dict[tuple[int, int], str] = {}
    if found is not None:
        check_provenance(out.url, found, fingerprint, config, config_hash)
        statuses = Ledger(out).statuses()
    return PredictionPlan(
        scene=name,
        imagery=desc,
        store=store if isinstance(store, str) else out.url,
        model=model,
        model_key=model_key,
        fingerprint=fingerprint,
        config=config,
        config_hash=config_hash,
        strategy=strat,
        chunk=chunk,
        halo=halo_px,
        stride=info.stride,
        window=size,
        step=step,
        shape=tuple(da.shape),
        n_classes=info.n_classes,
        class_codes=codes,
        output_dtype=output_dtype,
        batch_size=_batch_size(batch_size, strat),
        preprocessing=pre,
        preprocessing_source=source_of_pre,
        nodata=get_nodata(da),
        overwrite=overwrite,
        store_state="overwrite" if overwrite else ("resume" if found is not None else "new"),
        statuses=statuses,
        storage_options=storage_options,
        source=da,
        output=out,
        model_info=facts.to_dict(),
    )


def new_run_id() -> str:
    """A short id stamped on this run's ledger records."""
    return uuid.uuid4().hex[:12]
