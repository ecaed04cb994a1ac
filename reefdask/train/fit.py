"""Train one model from a sample store: resumable, early-stopped, with a model card.

Output folder (``outdir``)::

    run.json              the configuration and its hash (a changed config is refused)
    scaler.json           the scaler fitted on the training folds (fitted once per run)
    checkpoint/           epoch-<n>.keras (model + optimizer), best.keras, state.json
    history.json          one row per finished epoch (continuous across resumes)
    tensorboard/          TensorBoard logs
    <name>.keras          the best model (lowest validation loss)
    <name>.card.json      its model card (read by the inference engine)
    report/               HTML + PNG report
    _work/<name>.done.json  the completion record (work layer): written last, with the hash

A fit is one unit of :mod:`reefdask.work`: it claims ``_work/_claims/<name>`` (renewed
while it trains; a second run into the same outdir is refused meanwhile) and records
completion through it, in the format every stage uses; the checkpoints stay what they
are (resume state). Running again resumes from the last finished epoch (model, optimizer
state, history, learning rate, early-stopping and plateau counters); a run recorded done
with the same configuration hash is skipped (fits finished before the work layer, with
``run.json``, model and card, still count); a changed configuration is refused with the
differences listed unless ``overwrite``. The outdir is a local folder (Keras saves to
local files).
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reefdask import __version__
from reefdask.config import config_hash
from reefdask.errors import ConfigError, StoreError
from reefdask.io.storage import write_bytes_atomic
from reefdask.io.store_local import LocalStore
from reefdask.train.config import TrainConfig
from reefdask.work import Work
from reefdask.work.records import record_name

#: the work layer's folder in an outdir
WORK_DIR = "_work"

__all__ = ["TrainResult", "finished_result", "train", "fingerprint"]


@dataclass
class TrainResult:
    """Where a fit left its model and what it scored."""

    model: str
    card: str
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    resumed_from: int | None = None
    skipped: bool = False


def _run_config(cfg: TrainConfig) -> dict[str, Any]:
    d = cfg.model_dump(mode="json")
    d.pop("overwrite")
    return d


def finished_result(cfg: TrainConfig) -> TrainResult | None:
    """The result of a finished fit of exactly ``cfg`` (same configuration hash), else None.

    Cheap (reads JSON only, no TensorFlow): a sweep uses it to skip finished models
    before sending any work to a cluster.
    """
    from reefdask.model.card import ModelCard, card_url

    out = Path(cfg.outdir)
    model_path, run_file = out / f"{cfg.name}.keras", out / "run.json"
    card_path = Path(card_url(str(model_path)))
    if not (run_file.exists() and model_path.exists() and card_path.exists()):
        return None
    chash = config_hash(_run_config(cfg))
    if json.loads(run_file.read_text()).get("config_hash") != chash:
        return None
    records = _work(out).records
    done = records.read(record_name(cfg.name, "done"))
    legacy = not (out / WORK_DIR).exists()  # a fit from before the work layer: run.json + model + card
    if not legacy and (done is None or done.info.get("config_hash") != chash):
        return None
    card = ModelCard.load(str(card_path))
    hist = json.loads((out / "history.json").read_text()) if (out / "history.json").exists() else []
    return TrainResult(str(model_path), str(card_path), hist, card.metrics, skipped=True)


def train(cfg: TrainConfig) -> TrainResult:
    """Train (or resume, or skip) the model described by ``cfg``; see the module docstring."""
    from reefdask.model.card import card_url
    from reefdask.train.samples import config_differences

    out = Path(cfg.outdir)
    out.mkdir(parents=True, exist_ok=True)
    model_path, run_file = out / f"{cfg.name}.keras", out / "run.json"
    run = _run_config(cfg)
    if run_file.exists():
        old = json.loads(run_file.read_text())
        if old["config_hash"] != config_hash(run):
            if not cfg.overwrite:
                diffs = config_differences(old["config"], run)
                raise ConfigError(
                    f"{out} holds a fit with another configuration:\n  "
                    + "\n  ".join(diffs)
                    + "\nSet `overwrite: true` to discard it, or choose another outdir."
                )
            for p in ("checkpoint", "tensorboard", "report"):
                shutil.rmtree(out / p, ignore_errors=True)
            card_path = Path(card_url(str(model_path)))
            for stale in (model_path, card_path, out / "history.json", out / "scaler.json"):
                stale.unlink(missing_ok=True)
        else:
            done = finished_result(cfg)
            if done is not None:
                return done
    work = _work(out)
    claim = work.claim(cfg.name, overwrite=True)  # not finished (checked above): any old record goes
    if isinstance(claim, str):
        holder = work.claims.holder(cfg.name) or {}
        raise StoreError(
            f"{out} is being trained by {holder.get('owner', 'another run')}; wait for it to finish "
            "(a rerun then skips it) or choose another outdir."
        )
    status = "failed"
    try:
        with claim.keep():  # renewed while the model trains
            write_bytes_atomic(
                str(run_file), json.dumps({"config": run, "config_hash": config_hash(run)}, indent=1).encode()
            )
            result = _fit(cfg, out, model_path)
        info = {"config_hash": config_hash(run), "model": result.model, "card": result.card,
                "metrics": result.metrics}  # fmt: skip
        status = work.record(claim, info)
    finally:
        work.finish(claim, status)
    return result


def _work(out: Path) -> Work:
    """The completion record and claim of the fits in ``out`` (``_work/`` there)."""
    return Work(LocalStore(out), WORK_DIR, ttl=1800.0)


def _fit(cfg: TrainConfig, out: Path, model_path: Path) -> TrainResult:
    import keras

    from reefdask.core.classes import ClassSchema
    from reefdask.train.architectures import build_model
    from reefdask.train.checkpoint import load_state, make_checkpoint_callback
    from reefdask.train.dataset import make_dataset, steps_for
    from reefdask.train.losses import CUSTOM_OBJECTS, MacroF1, MacroIoU, WeightedCCE
    from reefdask.train.scalers import Scaler, fit_scaler
    from reefdask.train.store import open_samples

    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    store = open_samples(cfg.samples)
    attrs = store.attrs
    schema = ClassSchema.from_dict(attrs["schema"])
    scaler_file = out / "scaler.json"
    if scaler_file.exists():
        scaler = Scaler.from_dict(json.loads(scaler_file.read_text()))
    else:
        scaler = fit_scaler(cfg.scaler, store.dask("features", "train"), attrs.get("feature_nodata"))
        write_bytes_atomic(str(scaler_file), json.dumps(scaler.to_dict()).encode())
    steps = cfg.steps_per_epoch or steps_for(store, "train", cfg.batch_size, True)
    if steps_for(store, "train", cfg.batch_size, True) == 0 or not store.ranges("validation"):
        raise ConfigError(
            f"Sample store {cfg.samples} has too few training ({len(store.indices('train'))}) or validation "
            f"({len(store.indices('validation'))}) samples for batch_size {cfg.batch_size}; "
            "draw more samples."
        )
    train_ds = make_dataset(
        store,
        "train",
        scaler,
        batch_size=cfg.batch_size,
        shuffle=True,
        augment=cfg.augment,
        repeat=True,
        shuffle_buffer=cfg.shuffle_buffer,
        seed=cfg.seed,
        deterministic=cfg.deterministic,
    )
    val_steps = cfg.validation_steps or steps_for(store, "validation", cfg.batch_size, False)
    val_ds = make_dataset(store, "validation", scaler, batch_size=cfg.batch_size, repeat=True)
    ckdir = out / "checkpoint"
    ckdir.mkdir(exist_ok=True)
    state = load_state(ckdir)
    crop = attrs["window_radius"] - attrs["loss_window_radius"]
    if state is not None:
        model = keras.models.load_model(ckdir / state["model"], custom_objects=CUSTOM_OBJECTS)
    else:
        model = build_model(cfg.architecture, store.n_bands, schema.n_classes, seed=cfg.seed)
        model.compile(
            optimizer=keras.optimizers.Adam(cfg.learning_rate),
            loss=WeightedCCE(crop=crop),
            metrics=[MacroF1(schema.n_classes), MacroIoU(schema.n_classes)],
        )
    early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, min_delta=cfg.min_delta)
    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=cfg.lr_factor, patience=cfg.lr_patience, min_delta=cfg.min_delta
    )
    ck = make_checkpoint_callback(ckdir, out, state, early, plateau)
    callbacks = [plateau, early, ck]
    if cfg.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(out / "tensorboard"), write_graph=False))
    initial = 0 if state is None else state["epoch"] + 1
    stopped = state is not None and state["early_stopping"]["wait"] >= cfg.patience
    if initial < cfg.epochs and not stopped:
        model.fit(
            train_ds,
            epochs=cfg.epochs,
            initial_epoch=initial,
            steps_per_epoch=steps,
            validation_data=val_ds,
            validation_steps=val_steps,
            callbacks=callbacks,
            shuffle=False,
            verbose=1 if sys.stdout.isatty() else 2,  # a step bar on a terminal, a line per epoch in logs
        )
    best = keras.models.load_model(ckdir / "best.keras", custom_objects=CUSTOM_OBJECTS)
    return _finish(cfg, out, model_path, best, store, scaler, schema, ck.history, initial if state else None)


def fingerprint(model_path: str, bands: Any, scaler: dict[str, Any], class_codes: Any) -> str:
    """The model contract's fingerprint of a saved model: the one ``predict`` and the global map compute.

    :func:`reefdask.model.fingerprint.model_fingerprint` of the saved file's weights
    digest and the card's preprocessing (bands, scaler, nodata encoding, class codes).
    """
    from reefdask.core.nodata import MODEL_NODATA
    from reefdask.model.fingerprint import model_fingerprint, weights_digest
    from reefdask.model.preprocess import Preprocessing

    pre = Preprocessing(tuple(bands), dict(scaler), MODEL_NODATA, tuple(class_codes))
    return model_fingerprint(weights_digest(str(model_path))[:16], pre)


def _finish(
    cfg: TrainConfig,
    out: Path,
    model_path: Path,
    model: Any,
    store: Any,
    scaler: Any,
    schema: Any,
    history: list[dict[str, float]],
    resumed_from: int | None,
) -> TrainResult:
    import keras
    import tensorflow as tf

    from reefdask.core.nodata import MODEL_NODATA
    from reefdask.model.card import ModelCard
    from reefdask.train.architectures import receptive_field, recommended_halo, stride
    from reefdask.train.evaluate import evaluate_split
    from reefdask.train.reef_decision import fit_decision, score_decision

    attrs = store.attrs
    evals = {"val": evaluate_split(model, store, "validation", scaler, seed=cfg.seed)}
    if store.ranges("test"):
        evals["test"] = evaluate_split(model, store, "test", scaler, seed=cfg.seed)
    metrics: dict[str, float] = {}
    class_metrics: dict[str, Any] = {}
    for split, ev in evals.items():
        sc = ev.scores()
        class_metrics[split] = {**sc, "names": list(schema.names), "confusion": ev.confusion.tolist()}
        for key in ("overall_accuracy", "macro_f1", "macro_iou"):
            metrics[f"{split}_{key}"] = sc[key]
    if history:
        best_row = min(history, key=lambda r: r.get("val_loss", np.inf))
        metrics.update({k: float(v) for k, v in best_row.items() if k != "epoch"})
        metrics["best_epoch"] = float(best_row["epoch"])
    decision = None
    if cfg.reef_decision != "none":
        val = evals["val"]
        decision = fit_decision(cfg.reef_decision, schema, val.probs, val.truth, cfg.seed)
        decision["fitted_on"] = f"validation fold {attrs['validation_fold']}"
        target = evals.get("test", val)
        decision["evaluated_on"] = (
            f"test fold {attrs['test_fold']}"
            if "test" in evals
            else "validation fold (no test fold: in-sample)"
        )
        decision["eval_f1"] = score_decision(decision, schema, target.probs, target.truth)
        metrics["reef_f1"] = decision["eval_f1"]
    model.save(model_path)
    spec = cfg.architecture
    card = ModelCard(
        name=cfg.name,
        bands=list(attrs["bands"]),
        nodata_encoding=MODEL_NODATA,
        scaler=scaler.to_dict(),
        classes=schema.to_dict(),
        class_codes=list(schema.codes),
        window_radius=attrs["window_radius"],
        loss_window_radius=attrs["loss_window_radius"],
        stride=stride(spec),
        receptive_field=receptive_field(spec) // 2,
        halo=recommended_halo(spec),
        fingerprint=fingerprint(str(model_path), attrs["bands"], scaler.to_dict(), schema.codes),
        metrics=metrics,
        versions={"reefdask": __version__, "tensorflow": tf.__version__, "keras": keras.__version__},
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        config=_run_config(cfg),
        architecture={**spec.model_dump(), "receptive_field_width": receptive_field(spec)},
        reef_decision=decision,
        class_metrics=class_metrics,
        samples={
            "store": cfg.samples,
            "config_hash": attrs["config_hash"],
            "class_weights": attrs.get("class_weights"),
        },
        feature_nodata=attrs.get("feature_nodata"),
        resumed_from_epoch=resumed_from,
    )
    card_path = card.save(str(model_path))
    from reefdask.train.report import write_report

    write_report(out / "report", card, history, store, scaler, model)
    return TrainResult(str(model_path), card_path, history, metrics, resumed_from)
