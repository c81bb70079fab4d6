"""Copies of the game with the policy's perception: frames in, feature rows out, in batches.

``envs.workers.copies_for`` makes the environments (in this process or in workers that also run the
detector); this adds what a symbolic policy reads: one detector call for all copies' frames (none
where the workers ran it), a tracker per copy, one feature matrix. PPO's rollouts use
``reset``/``step`` directly; whole episodes are played by ``envs.play.play`` with ``ForestPlayers``.

With a learned ``reward`` (objects -> one reward per state, e.g. ``reward.trex.LearnedReward``) the
game's score is replaced, for every step, by the learned reward of the state the action was taken
on: the objects are read once per step, for the policy and the reward alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from envs.config import EnvConfig
from envs.play import EnvCopies, Step
from envs.workers import WorkerCopies, copies_for
from gplearn_custom.language.features import FeatureSpec
from gplearn_custom.language.forest import SymbolicForest
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


StateReward = Callable[[list[list[dict]]], np.ndarray]


class LearnedRewardCopies:
    """Game copies whose reward is a learned reward of the state each copy last acted on (set by
    ``Lockstep.features`` through ``observe``), not the game's score."""

    def __init__(self, envs: EnvCopies | WorkerCopies):
        self.envs = envs
        self.pending = np.zeros(len(envs))

    def __len__(self) -> int:
        return len(self.envs)

    @property
    def steps(self) -> int:
        return self.envs.steps

    def observe(self, copies: Sequence[int], rewards: np.ndarray) -> None:
        self.pending[np.asarray(copies, dtype=np.int64)] = rewards

    def reset(self, copies: Sequence[int], seeds: Sequence[int]) -> tuple[list[np.ndarray], list[dict]]:
        return self.envs.reset(copies, seeds)

    def step(self, copies: Sequence[int], actions: Sequence[int]) -> Step:
        out = self.envs.step(copies, actions)
        out.scores, out.rewards = out.rewards, self.pending[np.asarray(copies, dtype=np.int64)].copy()
        return out

    def close(self) -> None:
        self.envs.close()


class Lockstep:
    """``copies`` environments with their perception; ``reset``/``step`` take the copies to act on.
    ``reward``: a learned reward of the objects, in place of the game's score."""

    def __init__(self, env_cfg: EnvConfig, spec: FeatureSpec, perception: Perception | None, copies: int,
                 reward: StateReward | None = None):
        envs = copies_for(env_cfg, copies, None if perception is None else perception.detect)
        self.envs = envs if reward is None else LearnedRewardCopies(envs)
        self.spec = spec
        self.reader = ObjectReader(perception, copies)
        self.reward = reward

    def __len__(self) -> int:
        return len(self.envs)

    @property
    def steps(self) -> int:
        """Environment steps taken, for reports."""
        return self.envs.steps

    def reset(self, copies: Sequence[int], seeds: Sequence[int]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Start an episode in each of ``copies``; returns their features and frames."""
        frames, infos = self.envs.reset(copies, seeds)
        for copy in copies:
            self.reader.reset(copy)
        return self.features(frames, infos, copies), frames

    def step(self, copies: Sequence[int], actions: Sequence[int]) -> Transition:
        out = self.envs.step(copies, actions)
        features = self.features(out.frames, out.infos, copies)
        return Transition(out.rewards, out.terminated, out.truncated, features, out.frames)

    def features(self, frames: list[np.ndarray], infos: list[dict], copies: Sequence[int]) -> np.ndarray:
        states = self.reader.read(frames, infos, copies)
        if self.reward is not None:
            self.envs.observe(copies, self.reward(states))
        return self.spec.transform(states)

    def close(self) -> None:
        self.envs.close()


class ForestPlayers:
    """Forests as ``envs.play.Players``: each step reads every copy's objects once, then runs each
    forest once on the rows of the copies it plays."""

    def __init__(self, forests: Sequence[SymbolicForest], game: Lockstep):
        self.forests = forests
        self.game = game

    def start(self, copies: np.ndarray) -> None:
        for copy in copies:
            self.game.reader.reset(copy)

    def act(self, copies: np.ndarray, owners: np.ndarray, frames: list[np.ndarray],
            infos: list[dict]) -> np.ndarray:
        X = self.game.features(frames, infos, copies)
        actions = np.empty(len(copies), dtype=np.int64)
        for f in np.unique(owners):
            rows = owners == f
            actions[rows] = self.forests[f].predict(X[rows])
        return actions
