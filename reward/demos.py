"""Ranked demonstrations for free: whole episodes of each of the teacher's checkpoints, as object states.

Stage I saves checkpoints of growing skill; T-REX needs nothing more than their order. Each
checkpoint (and, below them all, a uniform random player) plays whole episodes; every frame is read
through the dataset's perception, as the symbolic agent will read it, and the game's score is kept
only to evaluate the learned reward (or to rank by it where ``reward.rank_by=return``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.seeds import DEMONSTRATIONS, rollout_seed
from envs.config import EnvConfig
from envs.evaluation import Agent, RandomAgent
from envs.play import AgentPlayers, EnvCopies, play
from see.perception import Perception
from teacher.agent import TeacherAgent, checkpoint_files

CHUNK = 256  # frames the object source sees per call


@dataclass
class Demonstrator:
    name: str  # "random" or the checkpoint's file name
    steps: int  # training steps behind it (0 for the random player)
    agent: Agent


@dataclass
class Demonstration:
    """One whole episode: the objects of every state the demonstrator acted on, and its score."""

    source: str
    source_index: int  # place of its demonstrator in skill order (0: the least trained)
    seed: int
    states: list[list[dict]]
    true_return: float

    def summary(self) -> dict:
        return {"source": self.source, "source_index": self.source_index, "seed": self.seed,
                "length": len(self.states), "true_return": self.true_return}


def demonstrators(checkpoint_dir: Path, frame_stack: int, n_actions: int, include_random: bool,
                  deterministic: bool, device: str, seed: int) -> list[Demonstrator]:
    """The random player (if asked) and every checkpoint, least trained first."""
    found = [Demonstrator("random", 0, RandomAgent(n_actions, seed))] if include_random else []
    for steps, path in checkpoint_files(checkpoint_dir):
        agent = TeacherAgent.load_file(path, frame_stack, deterministic, device, seed + steps)
        found.append(Demonstrator(path.name, steps, agent))
    return found


class RecordingPlayers(AgentPlayers):
    """One agent on one copy (``envs.play.play``'s loop), keeping the frames it acted on and their infos."""

    def __init__(self, agent: Agent):
        super().__init__([agent])
        self.frames: list[np.ndarray] = []
        self.infos: list[dict] = []

    def start(self, copies: np.ndarray) -> None:
        self.frames, self.infos = [], []
        super().start(copies)

    def act(self, copies: np.ndarray, owners: np.ndarray, frames: list[np.ndarray],
            infos: list[dict]) -> np.ndarray:
        self.frames += frames
        self.infos += infos
        return super().act(copies, owners, frames, infos)


def demonstrations(env_cfg: EnvConfig, sources: list[Demonstrator], perception: Perception, episodes: int,
                   max_steps: int, seed: int) -> Iterator[Demonstration]:
    """``episodes`` whole games of each demonstrator, cut at ``max_steps``; the k-th game of every
    demonstrator starts from the same development seed, so skill, not the start, sets them apart."""
    game = EnvCopies(env_cfg, 1)
    try:
        for index, source in enumerate(sources):
            players = RecordingPlayers(source.agent)
            for k in range(episodes):
                episode_seed = rollout_seed(seed + DEMONSTRATIONS, k)
                returns, _ = play(players, 1, [episode_seed], game, max_steps)
                states = read_states(perception, players.frames, players.infos)
                yield Demonstration(source.name, index, episode_seed, states, float(returns[0, 0]))
    finally:
        game.close()


def read_states(perception: Perception, frames: list[np.ndarray], infos: list[dict]) -> list[list[dict]]:
    """One episode's objects, detected in chunks and tracked in order, as the dataset's were."""
    perception.reset()
    states = []
    for first in range(0, len(frames), CHUNK):
        batch = slice(first, first + CHUNK)
        for detections in perception.source.detect(np.stack(frames[batch]), infos[batch]):
            states.append(perception.update(detections))
    return states
