"""The ``detector`` section of a config: which object source, and SPACE's model and training.

SPACE's settings default to ``None``, meaning "take it from the preset": ``atari`` is the paper's
Atari configuration (GPU), ``cpu`` a reduced model that trains in minutes on the built-in games.
A key set in the YAML file or on the command line wins over the preset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from common.errors import UserError

SOURCES = ("space", "segment", "oracle")

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # Lin et al. (ICLR 2020), Atari: 128x128 frames, 16x16 cells, K=3 background components.
    "atari": {
        "model": {
            "image_size": 128, "grid": 16, "glimpse_size": 32, "max_shift": 1.0, "z_what_dim": 32,
            "channels": 64, "glimpse_channels": 32, "neighbourhood": -1, "bg_components": 3,
            "z_bg_dim": 32, "bg_stride": 1, "bg_canvas": False,
            "fg_sigma": 0.20, "bg_sigma": 0.15,
        },
        "train": {
            "steps": 100_000, "batch_size": 12, "fg_optimizer": "rmsprop", "fg_lr": 1e-5,
            "bg_lr": 1e-3, "clip_norm": 1.0, "fix_alpha_steps": 4000, "fix_alpha_value": 0.1,
            "pres_prior": [0.1, 0.01], "pres_prior_steps": [4000, 10_000],
            "scale_prior_mean": [-1.0, -2.0], "scale_prior_steps": [10_000, 20_000],
            "scale_prior_std": 0.1, "tau": [2.5, 0.5], "tau_steps": [0, 20_000],
            "log_every": 100, "image_every": 1000, "checkpoint_every": 1000,
        },
        "eval": {"tolerance": 5.0},
    },
    # Built-in 64x64 games on a CPU: 8x8 cells of 8 pixels, each owning the objects centred in it
    # (max_shift 0.5: no two cells compete for one object, which speeds learning up), narrow
    # glimpse networks, glimpses drawn only into the 3x3 cells around their own, and one coarse
    # background component.
    "cpu": {
        "model": {
            "image_size": 64, "grid": 8, "glimpse_size": 8, "max_shift": 0.5, "z_what_dim": 16,
            "channels": 32, "glimpse_channels": 8, "neighbourhood": 1, "bg_components": 1,
            "z_bg_dim": 8, "bg_stride": 4, "bg_canvas": False,
            "fg_sigma": 0.15, "bg_sigma": 0.15,
        },
        "train": {
            "steps": 1200, "batch_size": 16, "fg_optimizer": "adam", "fg_lr": 1e-3,
            "bg_lr": 1e-3, "clip_norm": 1.0, "fix_alpha_steps": 200, "fix_alpha_value": 0.1,
            "pres_prior": [0.1, 0.01], "pres_prior_steps": [200, 800],
            "scale_prior_mean": [-2.0, -2.5], "scale_prior_steps": [200, 800],
            "scale_prior_std": 0.3, "tau": [2.5, 0.5], "tau_steps": [0, 1000],
            "log_every": 25, "image_every": 250, "checkpoint_every": 250,
        },
        "eval": {"tolerance": 3.0},
    },
}
# Atari screens on a CPU: the cpu preset at the paper's Atari geometry (the screen resized to 128,
# 16x16 cells) with a coarse background plus a full-resolution canvas for the walls; 1000 steps take
# minutes on 2 cores (bench/detector.py)
PRESETS["atari_cpu"] = {
    "model": {**PRESETS["cpu"]["model"], "image_size": 128, "grid": 16, "bg_stride": 8, "bg_canvas": True},
    "train": {**PRESETS["cpu"]["train"], "steps": 1000},
    "eval": {"tolerance": 5.0},
}


@dataclass
class SpaceModelConfig:
    """SPACE's architecture; ``None`` takes the preset's value."""

    image_size: int | None = None  # frames are resized to this square side
    grid: int | None = None  # G: cells per side (image_size / grid must be a power of two)
    glimpse_size: int | None = None  # side of the glimpse each cell encodes and decodes
    max_shift: float | None = None  # how far, in cells, a box centre may move from its cell's centre
    z_what_dim: int | None = None  # appearance latent, the embedding later clustered into types
    channels: int | None = None  # width of the image encoder (and background networks: half)
    glimpse_channels: int | None = None  # width of the glimpse encoder and decoder
    neighbourhood: int | None = None  # cells around its own a glimpse is drawn into; -1: all
    bg_components: int | None = None  # K background components (stick-breaking masks if K > 1)
    z_bg_dim: int | None = None  # size of each background mask and component latent
    bg_stride: int | None = None  # background decoded at image_size / bg_stride, then upsampled
    bg_canvas: bool | None = None  # add a learned full-resolution image shared by all frames (walls)
    fg_sigma: float | None = None  # standard deviation of the foreground pixel likelihood
    bg_sigma: float | None = None  # standard deviation of the background pixel likelihood


@dataclass
class SpaceTrainConfig:
    """SPACE's training schedule; ``None`` takes the preset's value. Pairs are [start, end]."""

    steps: int | None = None
    batch_size: int | None = None
    fg_optimizer: str | None = None  # "rmsprop" (paper) or "adam"
    fg_lr: float | None = None
    bg_lr: float | None = None  # the background has its own Adam optimiser
    clip_norm: float | None = None  # gradient norm clipping
    fix_alpha_steps: int | None = None  # warm-up with a fixed foreground alpha: background first
    fix_alpha_value: float | None = None
    pres_prior: list[float] | None = None  # prior presence probability, annealed
    pres_prior_steps: list[int] | None = None
    scale_prior_mean: list[float] | None = None  # box-size prior (before the sigmoid), annealed
    scale_prior_steps: list[int] | None = None
    scale_prior_std: float | None = None
    tau: list[float] | None = None  # relaxed-Bernoulli temperature of z_pres, annealed
    tau_steps: list[int] | None = None
    log_every: int | None = None  # steps between tensorboard scalars
    image_every: int | None = None  # steps between tensorboard images
    checkpoint_every: int | None = None  # steps between resumable checkpoints
    n_frames: int | None = None  # frames read from frames/; None: all
    eval_frames: int = 200  # last frames held out for evaluation
    torch_threads: int = 1  # 1 is robust on a shared machine; 2 is about 1.5x faster on an idle one
    device: str = "auto"  # "auto": cuda when available, else cpu


@dataclass
class SegmentConfig:
    """The learning-free source: flat-colour connected components on the frame's mode colour."""

    colour_tolerance: int = 24  # max channel difference that still counts as background
    min_area: int = 1  # smallest component in pixels
    max_size: float = 0.5  # components wider or taller than this share of the frame are scenery
    merge_gap: int = 0  # foreground parts this many pixels apart or closer are one object
    split_colours: bool = True  # split a region whose colours point away from the background differently
    # cosine between two colours' directions away from the background above which they are one sprite
    # (blends, frame-max ghosts); higher splits near hues apart (Breakout's rows)
    same_sprite: float = 0.9
    # where an object is: "box" (its box's centre) or "centroid" (the mean of its pixels, which stays
    # on a boxer's body when an arm reaches out)
    position: str = "box"
    # processes that share a batch of frames (this one and workers - 1 spawned ones): more frames per
    # second on several cores, the same detections; a game copy's worker process (Stage III's parallel
    # games, which already use every core) detects alone
    workers: int = 1


@dataclass
class DetectionEvalConfig:
    """Detection metrics: Hungarian matching of centres within a tolerance in frame pixels."""

    tolerance: float | None = None  # None: preset's (cpu 3, Atari 5)
    iou: float = 0.5  # IoU for AP
    grid_frames: int = 16  # frames drawn in the PNG grid


@dataclass
class DetectorConfig:
    """Stage II-A: where object states come from and how the SPACE detector is trained."""

    source: str = "space"  # "space" (learned), "segment" (colour components) or "oracle" (true)
    # "cpu" (built-in games, 2 cores), "atari_cpu" (Atari, 2 cores) or "atari" (the paper's, GPU)
    preset: str = "cpu"
    threshold: float = 0.5  # presence probability above which a SPACE cell is an object
    nms_iou: float = 0.3  # boxes overlapping a better one by more than this are dropped
    roi: list[float] | None = None  # [x0, y0, x1, y1] share of the frame; centres outside dropped
    model: SpaceModelConfig = field(default_factory=SpaceModelConfig)
    train: SpaceTrainConfig = field(default_factory=SpaceTrainConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    eval: DetectionEvalConfig = field(default_factory=DetectionEvalConfig)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise UserError(f"detector.source must be one of {', '.join(SOURCES)}, got '{self.source}'")
        if self.preset not in PRESETS:
            raise UserError(f"detector.preset must be one of {', '.join(PRESETS)}, got '{self.preset}'")
        if self.roi is not None and len(self.roi) != 4:
            raise UserError("detector.roi must be [x0, y0, x1, y1] as shares of the frame")
        if self.segment.position not in ("box", "centroid"):
            raise UserError(f"detector.segment.position must be box or centroid, "
                            f"got '{self.segment.position}'")
        if self.segment.merge_gap < 0 or self.segment.min_area < 1:
            raise UserError("detector.segment.merge_gap must be at least 0 and min_area at least 1")
        preset = PRESETS[self.preset]
        for section in ("model", "train", "eval"):
            _fill(getattr(self, section), preset[section])
        _check(self)


def _fill(section: Any, values: dict[str, Any]) -> None:
    """Set the preset's value on every key left at ``None`` (set ones are the user's choice)."""
    for f in dataclasses.fields(section):
        if getattr(section, f.name) is None and f.name in values:
            setattr(section, f.name, values[f.name])


def _check(cfg: DetectorConfig) -> None:
    m, t = cfg.model, cfg.train
    cell = m.image_size // m.grid
    if m.image_size % m.grid or cell & (cell - 1) or cell < 2:
        raise UserError(
            f"detector.model: image_size {m.image_size} / grid {m.grid} must be a power of two >= 2"
        )
    if m.image_size % m.bg_stride or m.bg_stride & (m.bg_stride - 1):
        raise UserError("detector.model.bg_stride must be a power of two dividing image_size")
    if t.fg_optimizer not in ("rmsprop", "adam"):
        raise UserError(f"detector.train.fg_optimizer must be rmsprop or adam, got '{t.fg_optimizer}'")
    for key in ("pres_prior", "pres_prior_steps", "scale_prior_mean", "scale_prior_steps", "tau",
                "tau_steps"):
        if len(getattr(t, key)) != 2:
            raise UserError(f"detector.train.{key} must be a pair [start, end]")
