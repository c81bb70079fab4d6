"""The whole configuration: one section per stage, as in ``configs/*.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from common.config import apply_overrides, from_dict, load_yaml
from common.seeds import check_test_seeds
from envs.config import EnvConfig
from envs.evaluation import EvalConfig
from gplearn_custom.config import DistillConfig
from gplearn_custom.rl.config import FinetuneConfig
from reporting.transfer import TransferConfig
from reward.config import RewardConfig
from see.dataset_config import DatasetConfig
from space.config import DetectorConfig
from teacher.config import FramesConfig, TeacherConfig


@dataclass
class Config:
    """Root of a config file. Unknown sections or keys are errors."""

    seed: int = 0
    env: EnvConfig = field(default_factory=EnvConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    frames: FramesConfig = field(default_factory=FramesConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)


def load_config(path: str | Path, overrides: list[str] = (), seed: int | None = None) -> Config:
    """Read a YAML file, apply ``key=value`` overrides and ``--seed``, check every key."""
    data = apply_overrides(load_yaml(path), list(overrides))
    if seed is not None:
        data["seed"] = seed
    config = from_dict(Config, data)
    check_test_seeds(config.evaluation.seeds)
    return config
