"""Playing whole episodes: the one loop behind every return the project reports or optimises.

Episodes are jobs, an agent and a seed each, dealt to ``EnvCopies``: environments stepped one
after the other (the built-in games and emulators are single-threaded and cheap) but asked for
their actions together, so that perception and policies run on batches of frames. One copy plays
the seeds one after the other (``envs.evaluation.evaluate``); many copies play a population's
episodes side by side (Stage III's fitness, the selections, the evaluation through a detector).
An episode's return does not depend on which copy played it or beside whom (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from envs import make_env
from envs.config import EnvConfig


@dataclass
class Step:
    """What ``EnvCopies.step`` returns for the copies it stepped (aligned with them)."""

    frames: list[np.ndarray]
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    infos: list[dict]
    scores: np.ndarray | None = None  # the game's own rewards where ``rewards`` are learned ones

    @property
    def game_rewards(self) -> np.ndarray:
        return self.rewards if self.scores is None else self.scores


class EnvCopies:
    """``copies`` environments of one config; ``reset`` and ``step`` name the copies they act on."""

    def __init__(self, env_cfg: EnvConfig, copies: int):
        self.envs = [make_env(env_cfg) for _ in range(copies)]
        self.steps = 0  # environment steps taken, for reports

    def __len__(self) -> int:
        return len(self.envs)

    def reset(self, copies: Sequence[int], seeds: Sequence[int]) -> tuple[list[np.ndarray], list[dict]]:
        frames, infos = [], []
        for copy, seed in zip(copies, seeds, strict=True):
            frame, info = self.envs[copy].reset(seed=int(seed))
            frames.append(frame)
            infos.append(info)
        return frames, infos

    def step(self, copies: Sequence[int], actions: Sequence[int]) -> Step:
        out = Step([], np.zeros(len(copies)), np.zeros(len(copies), dtype=bool),
                   np.zeros(len(copies), dtype=bool), [])
        for k, (copy, action) in enumerate(zip(copies, actions, strict=True)):
            frame, reward, terminated, truncated, info = self.envs[copy].step(int(action))
            out.rewards[k], out.terminated[k], out.truncated[k] = reward, terminated, truncated
            out.frames.append(frame)
            out.infos.append(info)
        self.steps += len(copies)
        return out

    def close(self) -> None:
        for env in self.envs:
            env.close()


class Players(Protocol):
    """Chooses the actions of many copies at once, each by the agent that owns its episode."""

    def start(self, copies: np.ndarray) -> None:
        """New episodes begin on ``copies``: forget what was remembered of their last one."""

    def act(self, copies: np.ndarray, owners: np.ndarray, frames: list[np.ndarray],
            infos: list[dict]) -> np.ndarray:
        """Actions for ``copies`` (whose episodes belong to agents ``owners``) from their frames."""


def play(players: Players, n_agents: int, seeds: Sequence[int], game: EnvCopies,
         max_steps: int, end_on_loss: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Every agent plays every seed once, greedily as ``players`` choose, episodes cut at
    ``max_steps`` (and, with ``end_on_loss``, at the first negative reward, as Atari's episodic
    life ends an episode at a lost life); returns and lengths, each (n_agents, len(seeds))."""
    jobs = [(a, s) for a in range(n_agents) for s in range(len(seeds))]
    returns = np.zeros((n_agents, len(seeds)))
    lengths = np.zeros((n_agents, len(seeds)), dtype=np.int64)
    for first in range(0, len(jobs), len(game)):
        batch = jobs[first:first + len(game)]
        owner = np.array([a for a, _ in batch])
        active = np.arange(len(batch))  # copy k plays batch[k]
        frames, infos = game.reset(active, [seeds[s] for _, s in batch])
        players.start(active)
        for _ in range(max_steps):
            out = game.step(active, players.act(active, owner[active], frames, infos))
            for k, copy in enumerate(active):
                returns[batch[copy]] += out.rewards[k]
                lengths[batch[copy]] += 1
            alive = ~(out.terminated | out.truncated | (end_on_loss & (out.game_rewards < 0)))
            if not alive.any():
                break
            active = active[alive]
            frames = [f for f, keep in zip(out.frames, alive, strict=True) if keep]
            infos = [i for i, keep in zip(out.infos, alive, strict=True) if keep]
    return returns, lengths


class AgentPlayers:
    """Frame-by-frame agents (``envs.evaluation.Agent``) as ``Players``: agent k plays copy k."""

    def __init__(self, agents: Sequence):
        self.agents = list(agents)

    def start(self, copies: np.ndarray) -> None:
        for copy in copies:
            self.agents[copy].reset()

    def act(self, copies: np.ndarray, owners: np.ndarray, frames: list[np.ndarray],
            infos: list[dict]) -> np.ndarray:
        return np.array([self.agents[c].act(f, i) for c, f, i in zip(copies, frames, infos, strict=True)],
                        dtype=np.int64)
