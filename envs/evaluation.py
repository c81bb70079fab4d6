"""Return of any agent over a fixed list of seeds: the one definition every stage reports."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from envs import make_env
from envs.config import EnvConfig


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


def evaluate(agent: Agent, env_cfg: EnvConfig, cfg: EvalConfig) -> EvalResult:
    """Play one whole game per seed (no training wrappers, raw scores) and collect returns."""
    env = make_env(env_cfg, train=False)
    returns, lengths = [], []
    start = time.perf_counter()
    try:
        for seed in cfg.seeds:
            frame, info = env.reset(seed=seed)
            agent.reset()
            total, steps, done = 0.0, 0, False
            while not done and steps < cfg.max_steps:
                frame, reward, terminated, truncated, info = env.step(agent.act(frame, info))
                total += float(reward)
                steps += 1
                done = terminated or truncated
            returns.append(total)
            lengths.append(steps)
    finally:
        env.close()
    return EvalResult(returns, lengths, time.perf_counter() - start)
