"""The layout of ``reefdask demo``: which quads play which part, where things go, the stage configs.

The demo's SYNTHETIC quads: a block whose last two quads are held out of training (predicted
and scored at calval), a corrupt quad just east of the block, and, two quads further east,
a reef-free quad of open water with an open-water neighbour east of it: no reef reaches it
through the halo of a global run, so its status is really ``no_reef``. Every stage reads
the cleaned quads (``<out>/clean``). :func:`check_settings` keeps two demos out of one folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reefdask.errors import ConfigError

__all__ = [
    "REGION",
    "DemoPlan",
    "plan_demo",
    "clean_config",
    "samples_config",
    "train_config",
    "check_settings",
]

REGION = "belize"


@dataclass(frozen=True)
class DemoPlan:
    """Where the demo writes, which quads train / are held out / are special, and how big."""

    out: Path
    quads: list[str]
    held_out: list[str]
    no_reef: str
    water: str
    corrupt: str
    size: int
    seed: int
    fast: bool

    @property
    def bucket(self) -> Path:
        """The local folder that stands in for the provider's bucket."""
        return self.out / "bucket"

    @property
    def acquired(self) -> Path:
        """The local copies that ``acquire`` verified (the corrupt quad is not among them)."""
        return self.out / "acquired"

    @property
    def cleaned(self) -> Path:
        """The cleaned quads: ``imagery/<quad>.tif`` (alpha -> nodata) and ``labels/<quad>.tif``."""
        return self.out / "clean"

    @property
    def synthetic(self) -> list[str]:
        """Every quad synthesized whole: the demo's quads and the open-water neighbour."""
        return [*self.quads, self.water]

    def image(self, quad: str, root: Path | None = None) -> Path:
        """The imagery of ``quad``: cleaned (default), or ``<root>/imagery/<region>/`` (bucket, copies)."""
        if root is None:
            return self.cleaned / "imagery" / f"{quad}.tif"
        return root / "imagery" / REGION / f"{quad}.tif"

    def label(self, quad: str, root: Path | None = None) -> Path:
        """The labels of ``quad``: cleaned (default), or ``<root>/labels/<region>/`` (bucket, copies)."""
        if root is None:
            return self.cleaned / "labels" / f"{quad}.tif"
        return root / "labels" / REGION / f"{quad}.tif"

    @property
    def train_quads(self) -> list[str]:
        """The quads samples are drawn from: all but the held-out ones."""
        return [q for q in self.quads if q not in self.held_out]

    @property
    def model(self) -> Path:
        """The trained model (its card and report beside it)."""
        return self.out / "model" / "unet.keras"

    @property
    def run(self) -> Path:
        """The global run's store."""
        return self.out / "global-run"


def plan_demo(out: Path, *, quads: int, size: int, seed: int, fast: bool) -> DemoPlan:
    """Lay out ``quads`` quads: a block of ``quads - 1`` (the last two held out) and a no-reef quad.

    The corrupt quad sits just east of the block's first row (a neighbouring quad id); the
    no-reef quad two quads east of it, away from any reef, with an open-water quad east of it
    (not counted in ``quads``, like the corrupt one).

    >>> p = plan_demo(Path("out"), quads=16, size=256, seed=0, fast=True)
    >>> p.held_out, p.corrupt, p.no_reef, p.water
    (['L15-0526E-1120N', 'L15-0527E-1120N'], 'L15-0529E-1123N', 'L15-0531E-1123N', 'L15-0532E-1123N')
    """
    from reefdask.synthetic.quads import default_quads

    if quads < 4:
        raise ConfigError(
            f"--quads {quads} is too few: the demo trains on some quads, holds out 2 and forces "
            "1 to be reef-free; use --quads 4 or more (16 by default)."
        )
    block = default_quads(quads - 1)
    cols = max(q.x for q in block) - block[0].x + 1
    ids = [q.id for q in block]
    no_reef = block[0].offset(cols + 2, 0)  # no neighbour in the inventory but the water east of it
    return DemoPlan(
        out=out,
        quads=[*ids, no_reef.id],
        held_out=ids[-2:],
        no_reef=no_reef.id,
        water=no_reef.offset(1, 0).id,
        corrupt=block[0].offset(cols, 0).id,
        size=size,
        seed=seed,
        fast=fast,
    )


def clean_config(p: DemoPlan) -> Any:
    """The :class:`~reefdask.clean.CleanConfig` of the demo: acquired copies -> ``<out>/clean``.

    Imagery: alpha -> nodata, RGB kept, full resolution (``factor`` 1: the scenes are small
    already); labels (already detailed codes) onto each cleaned quad's exact grid.
    """
    from reefdask.clean.config import CleanConfig

    return CleanConfig(
        workers=2,
        resampling="average",
        imagery={"inputs": str(p.acquired / "imagery"), "output": str(p.cleaned / "imagery"), "factor": 1},
        labels={
            "output": str(p.cleaned / "labels"),
            "sources": [{"kind": "raster", "path": str(p.acquired / "labels" / "**" / "*.tif")}],
        },
    )


def samples_config(p: DemoPlan) -> Any:
    """The :class:`~reefdask.train.config.SamplesConfig` of the demo: every quad but the held-out ones."""
    from reefdask.train.config import SamplesConfig

    return SamplesConfig(
        store=str(p.out / "samples.zarr"),
        scenes=[{"features": str(p.image(q)), "labels": str(p.label(q))} for q in p.train_quads],
        window_radius=32,
        loss_window_radius=16,
        stride=16,
        max_samples=300 if p.fast else 1200,
        n_folds=4,
        validation_fold=0,
        fold_block=128,
        chunk_samples=32,
        background_classes=[3],  # windows of deep water alone teach little
        balance={"mode": "oversample", "power": 0.5},
        seed=p.seed,
    )


def train_config(p: DemoPlan) -> Any:
    """The :class:`~reefdask.train.config.TrainConfig` of the demo: a small U-Net, few epochs."""
    from reefdask.train.config import TrainConfig

    return TrainConfig(
        samples=str(p.out / "samples.zarr"),
        outdir=str(p.model.parent),
        name=p.model.stem,
        architecture={"name": "unet", "filters": 8, "blocks": [2, 2, 2], "growth": 2},
        epochs=6 if p.fast else 20,
        steps_per_epoch=12 if p.fast else 30,
        validation_steps=4 if p.fast else None,
        batch_size=16,
        learning_rate=1e-2,
        augment={"blur_probability": 0.0, "noise": 0.01},
        tensorboard=False,
        seed=p.seed,
    )


def check_settings(p: DemoPlan) -> None:
    """Refuse to mix two demos in one folder: ``<out>/demo-settings.json`` must match this one's."""
    import json

    from reefdask.train.samples import config_differences

    now = {
        "quads": p.quads,
        "size": p.size,
        "seed": p.seed,
        "clean": clean_config(p).model_dump(mode="json"),
        "samples": samples_config(p).model_dump(mode="json"),
        "train": train_config(p).model_dump(mode="json"),
    }
    path = p.out / "demo-settings.json"
    if path.exists():
        diffs = config_differences(json.loads(path.read_text()), now)
        if diffs:
            raise ConfigError(
                f"{p.out} holds a demo made with other settings:\n  "
                + "\n  ".join(diffs[:8])
                + f"\nUse another --out, or delete {p.out} to start over."
            )
    else:
        path.write_text(json.dumps(now, indent=1))
