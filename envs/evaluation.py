"""Return of any agent over a fixed list of seeds: the one definition every stage reports.

It plays through ``envs.play.play``, the loop that also plays Stage III's fitness and every
selection, with one environment copy: the seeds one after the other."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from envs.config import EnvConfig
from envs.play import AgentPlayers, EnvCopies, Players, play


@dataclass
class EvalConfig:
    """Evaluation episodes: greedy actions, one episode per seed, same seeds for every agent."""

    seeds: list[int] = field(default_factory=lambda: list(range(1000, 1010)))
    max_steps: int = 10_000  # cap per episode, so a stalling policy cannot hang evaluation


class Agent(Protocol):
    """Anything that plays from frames: the CNN teacher or a symbolic policy with perception."""

    def reset(self) -> None: ...

    def act(self, frame: np.ndarray, info: dict) -> int: ...


@dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]
    seconds: float

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))

    @property
    def decisions_per_second(self) -> float:
        return sum(self.lengths) / max(self.seconds, 1e-9)

    def summary(self) -> dict:
        return {"return_mean": self.mean, "return_std": self.std, "returns": self.returns,
                "episode_lengths": self.lengths, "agent_steps_per_second": self.decisions_per_second}


class RandomAgent:
    """Uniform random actions (seeded): the floor of the return ratio and of a reward's ranking."""

    def __init__(self, n_actions: int, seed: int):
        self.n_actions, self.rng = n_actions, np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def act(self, frame: np.ndarray, info: dict) -> int:
        return int(self.rng.integers(self.n_actions))


def play_seeds(players: Players, game: EnvCopies, cfg: EvalConfig) -> EvalResult:
    """One agent's whole games on every seed of ``cfg``, as ``players`` choose on ``game`` (closed
    afterwards): what every evaluation below shares, whoever plays and on how many copies."""
    start = time.perf_counter()
    try:
        returns, lengths = play(players, 1, cfg.seeds, game, cfg.max_steps)
    finally:
        game.close()
    return EvalResult(returns[0].tolist(), lengths[0].tolist(), time.perf_counter() - start)


def evaluate(agent: Agent, env_cfg: EnvConfig, cfg: EvalConfig) -> EvalResult:
    """Play one whole game per seed, one after the other (no training wrappers, raw scores)."""
    return play_seeds(AgentPlayers([agent]), EnvCopies(env_cfg, 1), cfg)


def evaluate_random(env_cfg: EnvConfig, cfg: EvalConfig, seed: int) -> EvalResult:
    """A uniform random player on every seed of ``cfg``: the floor a trained player is read against."""
    from envs import action_names  # opens the game once to count its actions

    return evaluate(RandomAgent(len(action_names(env_cfg)), seed), env_cfg, cfg)
