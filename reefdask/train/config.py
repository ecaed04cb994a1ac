"""Typed configurations of the training stages: samples, training, sweeps.

Every model forbids unknown keys (a typo is an error that names the key path and the
closest valid key, through :func:`reefdask.config.load_config`). The example YAML files
under ``pipelines/configs/`` load into these models and double as test fixtures.

Examples
--------
>>> from reefdask.config import load_config
>>> cfg = load_config({"store": "s.zarr", "scenes": [{"features": "a.tif", "labels": "b.tif"}]},
...                   SamplesConfig)
>>> cfg.window_radius, cfg.loss_window_radius, cfg.resolved_stride()
(128, 64, 128)
>>> ArchSpec(name="unet", blocks=[2, 2]).filters
16
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from reefdask.config import StageConfig

__all__ = [
    "SceneSpec",
    "BalanceConfig",
    "SamplesConfig",
    "ArchSpec",
    "AugmentConfig",
    "TrainConfig",
    "SweepConfig",
]


class SceneSpec(StageConfig):
    """One scene: features (a raster or a cube scene), its label raster, and an optional boundary."""

    features: str | None = Field(
        None, description="Feature raster (GeoTIFF/COG/VRT), e.g. imagery/belize/L15-*.tif (or `cube`)."
    )
    cube: str | None = Field(
        None, description="Zarr imagery cube (`reefdask ingest`) holding the features (or `features`)."
    )
    scene: str | None = Field(
        None, description="Scene id in `cube` (default: `name`, else the cube's only scene)."
    )
    labels: str = Field(description="Label raster on the same grid (int16 schema codes, nodata -9999).")
    boundary: str | None = Field(
        None, description="Sampling boundary: a raster (nonzero = inside) or a vector file (.gpkg/.geojson)."
    )
    name: str | None = Field(None, description="Scene id (default: the feature file's stem, or `scene`).")

    @model_validator(mode="after")
    def _source(self) -> SceneSpec:
        if (self.features is None) == (self.cube is None):
            raise ValueError("give a scene either `features` (a raster) or `cube` (a Zarr imagery cube)")
        if self.scene is not None and self.cube is None:
            raise ValueError("`scene` names a scene of a `cube`; drop it or give `cube`")
        return self


class BalanceConfig(StageConfig):
    """Class-aware sampling: which windows to prefer among the accepted candidates."""

    mode: Literal["none", "oversample", "proportions"] = Field(
        "none",
        description="none: uniform; oversample: prefer windows with rare classes; "
        "proportions: steer class proportions towards `targets`.",
    )
    power: float = Field(1.0, ge=0, le=4, description="oversample: weight classes by frequency^-power.")
    targets: dict[int, float] = Field(
        default_factory=dict, description="proportions: class code -> target share (normalised)."
    )

    @model_validator(mode="after")
    def _targets(self) -> BalanceConfig:
        if self.mode == "proportions" and not self.targets:
            raise ValueError("mode 'proportions' needs `targets`: a mapping of class code -> share")
        return self


class SamplesConfig(StageConfig):
    """Window samples to draw into a Zarr sample store (``reefdask samples``)."""

    store: str = Field(description="Zarr sample store URL to write.")
    scenes: list[SceneSpec] = Field(default_factory=list, description="Scenes, listed one by one.")
    features_glob: str | None = Field(None, description="Glob of feature rasters (alternative to scenes).")
    cube: str | None = Field(
        None, description="Zarr imagery cube: every complete scene, labels `labels_dir/<scene>.tif`."
    )
    labels_dir: str | None = Field(
        None, description="Folder of label rasters named like the features (or `<scene>.tif` for `cube`)."
    )
    class_schema: str = Field("default", description="Class schema: 'default' or a YAML path.")
    window_radius: int = Field(128, ge=4, description="r: windows are 2r x 2r pixels.")
    loss_window_radius: int = Field(64, ge=1, description="l: the loss counts the central 2l x 2l pixels.")
    stride: int | None = Field(None, ge=1, description="Candidate grid step (default 2l).")
    max_samples: int = Field(10000, ge=1, description="Total quota of windows.")
    max_per_scene: int | None = Field(
        None, ge=1, description="Per-scene quota (default max_samples / scenes)."
    )
    seed: int = Field(0, description="Seed of the shuffles and fold assignment.")
    max_feature_nodata: float = Field(0.25, ge=0, le=1, description="Reject above this nodata fraction.")
    max_response_nodata: float = Field(
        0.9, ge=0, le=1, description="Reject above this label nodata fraction."
    )
    max_outside_boundary: float = Field(0.5, ge=0, le=1, description="Reject above this fraction outside.")
    background_classes: list[int] = Field(
        default_factory=list, description="Codes that alone do not make a window worth keeping."
    )
    balance: BalanceConfig = Field(default_factory=BalanceConfig)
    n_folds: int = Field(10, ge=2, description="k spatial folds.")
    validation_fold: int = Field(0, ge=0, description="Fold used for validation.")
    test_fold: int | None = Field(None, ge=0, description="Optional held-out test fold.")
    fold_block: int | None = Field(None, ge=1, description="Spatial block side in px (default 4r).")
    chunk_samples: int = Field(32, ge=1, description="Samples per Zarr chunk (and per build task).")
    rebuild: bool = Field(False, description="Rebuild a store made with another configuration.")

    @model_validator(mode="after")
    def _check(self) -> SamplesConfig:
        if self.loss_window_radius > self.window_radius:
            raise ValueError("loss_window_radius must not exceed window_radius")
        if self.validation_fold >= self.n_folds:
            raise ValueError(f"validation_fold must be below n_folds ({self.n_folds})")
        if self.test_fold is not None and (
            self.test_fold >= self.n_folds or self.test_fold == self.validation_fold
        ):
            raise ValueError("test_fold must be below n_folds and differ from validation_fold")
        if not self.scenes and not ((self.features_glob or self.cube) and self.labels_dir):
            raise ValueError("give `scenes`, or `labels_dir` with `features_glob` or `cube`")
        return self

    def resolved_stride(self) -> int:
        """The candidate grid step: ``stride`` or ``2 * loss_window_radius``."""
        return self.stride or 2 * self.loss_window_radius

    def resolved_block(self) -> int:
        """The side of the spatial blocks that folds are assigned by (default ``4 r``)."""
        return self.fold_block or 4 * self.window_radius


class ArchSpec(StageConfig):
    """An architecture from the registry and its parameters."""

    name: str = Field(
        "unet", description="Registered architecture: unet, dense_unet, flat_net, res_unet, ..."
    )
    filters: int = Field(16, ge=1, description="Filters of the first block.")
    blocks: list[int] = Field(
        default_factory=lambda: [2, 2, 2], min_length=1, description="Layers per block."
    )
    kernel_size: int = Field(3, ge=1, description="Convolution kernel side (odd).")
    batch_norm: bool = Field(False, description="Batch normalisation after each convolution.")
    growth: float = Field(1.0, gt=0, description="Filter multiplier from one block to the next.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Spatial dropout after each block.")
    pool_size: int = Field(2, ge=1, description="Pooling factor between blocks (U-Nets).")
    activation: str = Field("relu", description="Activation of hidden layers.")


class AugmentConfig(StageConfig):
    """Random augmentation in the input pipeline (training folds only)."""

    enabled: bool = Field(True, description="Augment at all (false: windows go to the model as stored).")
    flips: bool = Field(True, description="Random horizontal and vertical flips.")
    rotations: bool = Field(True, description="Random 90-degree rotations.")
    transposes: bool = Field(True, description="Random transposes (swap y and x).")
    brightness: float = Field(0.1, ge=0, description="Max additive shift, in scaled units.")
    contrast: float = Field(0.1, ge=0, description="Max relative contrast change.")
    color_shift: float = Field(0.05, ge=0, description="Max per-band additive shift.")
    noise: float = Field(0.02, ge=0, description="Std of Gaussian noise.")
    blur_probability: float = Field(0.1, ge=0, le=1, description="Chance of a 3x3 Gaussian blur.")


class TrainConfig(StageConfig):
    """One model to train from a sample store (``reefdask train``)."""

    samples: str = Field(description="Zarr sample store made by `reefdask samples`.")
    outdir: str = Field(description="Folder that receives model.keras, its card, history and checkpoints.")
    name: str = Field("model", description="Model name (file stem).")
    architecture: ArchSpec = Field(default_factory=ArchSpec)
    scaler: Literal["none", "standard", "minmax", "robust", "quantile"] = Field(
        "robust", description="Per-band scaling fitted on the training fold; it travels in the model card."
    )
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    epochs: int = Field(100, ge=1, description="Most epochs to train (early stopping may end sooner).")
    batch_size: int = Field(8, ge=1, description="Windows per training batch.")
    learning_rate: float = Field(1e-3, gt=0, description="Initial learning rate of the optimizer.")
    patience: int = Field(10, ge=1, description="Early stopping patience (epochs).")
    min_delta: float = Field(1e-4, ge=0, description="Smallest val_loss improvement that counts.")
    lr_patience: int = Field(5, ge=1, description="Epochs without improvement before the LR is reduced.")
    lr_factor: float = Field(0.5, gt=0, lt=1, description="LR multiplier on plateau.")
    steps_per_epoch: int | None = Field(None, ge=1, description="Cap on training steps per epoch.")
    validation_steps: int | None = Field(None, ge=1, description="Cap on validation steps per epoch.")
    shuffle_buffer: int = Field(256, ge=1, description="Samples held in the shuffle buffer.")
    seed: int = Field(0, description="Seed of weights, shuffling and augmentation.")
    deterministic: bool = Field(
        True,
        description="Same seed, same model: deterministic TF ops and input order (a little slower).",
    )
    tensorboard: bool = Field(True, description="Write TensorBoard logs under outdir/tensorboard.")
    reef_decision: Literal["threshold", "logistic", "none"] = Field(
        "threshold", description="Reef / not-reef decision fitted on held-out probabilities (none: skip)."
    )
    overwrite: bool = Field(False, description="Discard an earlier run made with another configuration.")


class SweepConfig(StageConfig):
    """A grid of models over shared samples (``reefdask sweep``)."""

    samples: str = Field(description="Samples config YAML (built once) or an existing sample store.")
    outdir: str = Field(description="Folder with one sub-folder per model, plus the comparison.")
    base: dict = Field(default_factory=dict, description="TrainConfig keys shared by every model.")
    grid: dict[str, list] = Field(
        default_factory=dict,
        description="Dotted TrainConfig keys -> values, e.g. architecture.filters: [8, 16].",
    )
    metric: str = Field("val_macro_f1", description="Metric that ranks the models (higher is better).")
