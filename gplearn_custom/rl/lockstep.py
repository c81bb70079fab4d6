"""Copies of the game stepped together, so perception and policies run on batches of states.

The environments are plain Python objects stepped one after the other (the built-in games and
emulators are single-threaded and cheap), but everything after the step is batched: one detector
call for all frames, one feature matrix, one forest evaluation per forest, one teacher forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from envs import make_env
from envs.config import EnvConfig
from gplearn_custom.language.features import FeatureSpec
from see.perception import Perception
from see.reader import ObjectReader


@dataclass
class Transition:
    """What ``step`` returns for the copies it stepped (arrays aligned with ``copies``)."""

    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    features: np.ndarray  # of the new observations
    frames: list[np.ndarray]


class Lockstep:
    """``copies`` environments with their perception; ``reset``/``step`` take the copies to act on."""

    def __init__(self, env_cfg: EnvConfig, spec: FeatureSpec, perception: Perception | None, copies: int):
        self.envs = [make_env(env_cfg) for _ in range(copies)]
        self.spec = spec
        self.reader = ObjectReader(perception, copies)
        self.steps = 0  # environment steps taken, for reports

    def __len__(self) -> int:
        return len(self.envs)

    def reset(self, copies: Sequence[int], seeds: Sequence[int]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Start an episode in each of ``copies``; returns their features and frames."""
        frames, infos = [], []
        for copy, seed in zip(copies, seeds, strict=True):
            frame, info = self.envs[copy].reset(seed=int(seed))
            self.reader.reset(copy)
            frames.append(frame)
            infos.append(info)
        return self._features(frames, infos, copies), frames

    def step(self, copies: Sequence[int], actions: Sequence[int]) -> Transition:
        frames, infos = [], []
        rewards = np.zeros(len(copies))
        terminated = np.zeros(len(copies), dtype=bool)
        truncated = np.zeros(len(copies), dtype=bool)
        for k, (copy, action) in enumerate(zip(copies, actions, strict=True)):
            frame, rewards[k], terminated[k], truncated[k], info = self.envs[copy].step(int(action))
            frames.append(frame)
            infos.append(info)
        self.steps += len(copies)
        return Transition(rewards, terminated, truncated, self._features(frames, infos, copies), frames)

    def _features(self, frames: list[np.ndarray], infos: list[dict], copies: Sequence[int]) -> np.ndarray:
        return self.spec.transform(self.reader.read(frames, infos, copies))

    def close(self) -> None:
        for env in self.envs:
            env.close()
