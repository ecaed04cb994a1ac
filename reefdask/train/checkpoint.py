"""Per-epoch checkpoints that make a killed fit resumable with a continuous history.

At the end of every epoch the callback writes, in this order: the model with its
optimizer state to ``checkpoint/epoch-<n>.keras``; the best model so far to
``checkpoint/best.keras`` when validation loss improved; then, atomically,
``checkpoint/state.json`` naming that file with the history so far, the learning rate
and the early-stopping / plateau counters; and ``history.json``. Older epoch files are
deleted only after. A kill at any moment therefore leaves a state that names a complete
model of the same epoch as its history: resuming loads it, restores the counters and
continues with ``initial_epoch = epoch + 1``. A kill mid-epoch loses only that epoch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from reefdask.io.storage import write_bytes_atomic
from reefdask.io.store import open_store, temp_name

__all__ = ["load_state", "make_checkpoint_callback"]


def load_state(ckdir: Path) -> dict[str, Any] | None:
    """The last complete checkpoint state, or None (temporaries of a killed save are removed)."""
    open_store(ckdir).remove_stale()
    p = ckdir / "state.json"
    if not p.exists():
        return None
    state = json.loads(p.read_text())
    return state if (ckdir / state["model"]).exists() else None


def make_checkpoint_callback(
    ckdir: Path, outdir: Path, state: dict[str, Any] | None, early: Any, plateau: Any
) -> Any:
    """A Keras callback that checkpoints every epoch and restores ``state`` at the start."""
    import keras

    class EpochCheckpoint(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.history: list[dict[str, float]] = list((state or {}).get("history", []))
            self.best = float((state or {}).get("best", float("inf")))

        def on_train_begin(self, logs: Any = None) -> None:
            if state is None:
                return
            for cb, key in ((early, "early_stopping"), (plateau, "plateau")):
                for attr, value in state.get(key, {}).items():
                    setattr(cb, attr, value)
            self.model.optimizer.learning_rate.assign(state["learning_rate"])

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = dict(logs or {})
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            row = {"epoch": epoch, **{k: float(v) for k, v in logs.items()}, "learning_rate": lr}
            self.history.append(row)
            name = f"epoch-{epoch:04d}.keras"
            _save(self.model, ckdir / name)
            val = logs.get("val_loss", logs.get("loss", float("inf")))
            if val < self.best:
                self.best = float(val)
                _save(self.model, ckdir / "best.keras")
            new_state = {
                "epoch": epoch,
                "model": name,
                "history": self.history,
                "best": self.best,
                "learning_rate": lr,
                "early_stopping": {
                    "wait": int(early.wait),
                    "best": _num(early.best),
                    "best_epoch": int(early.best_epoch),
                },
                "plateau": {
                    "wait": int(plateau.wait),
                    "best": _num(plateau.best),
                    "cooldown_counter": int(plateau.cooldown_counter),
                },
            }
            write_bytes_atomic(str(ckdir / "state.json"), json.dumps(new_state, indent=1).encode())
            write_bytes_atomic(str(outdir / "history.json"), json.dumps(self.history, indent=1).encode())
            for old in ckdir.glob("epoch-*.keras"):
                if old.name != name:
                    old.unlink(missing_ok=True)

    return EpochCheckpoint()


def _num(x: Any) -> float | None:
    return None if x is None else float(x)


def _save(model: Any, path: Path) -> None:
    """Save into a temporary folder beside ``path`` (Keras wants the ``.keras`` name), then publish."""
    tmpdir = path.with_name(temp_name(path.name))  # a killed save leaves a folder remove_stale knows
    tmpdir.mkdir(parents=True)
    try:
        model.save(tmpdir / path.name)
        open_store(path.parent).publish_file(path.name, str(tmpdir / path.name), move=True)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
