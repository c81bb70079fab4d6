"""Ranked demonstrations for free: whole episodes of each of the teacher's checkpoints, as object states.

Stage I saves checkpoints of growing skill; T-REX needs nothing more than their order. Each
checkpoint (and, below them all, a uniform random player) plays whole episodes; every frame is read
through the dataset's perception, as the symbolic agent will read it, and the game's score is kept
only to evaluate the learned reward (or to rank by it where ``reward.rank_by=return``).

Playing and detecting is nearly all of the stage's time (minutes per run on Atari), and none of it
depends on how the reward is then trained, so the episodes are kept in a cache beside the stage
(``DemonstrationCache``): learning the reward again with other training settings replays nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.config import fingerprint
from common.io import atomic_write
from common.runs import file_digest
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
    identity: str  # what its play depends on besides the settings: its name and, for a checkpoint, its bytes


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
    found = [Demonstrator("random", 0, RandomAgent(n_actions, seed), "random")] if include_random else []
    for steps, path in checkpoint_files(checkpoint_dir):
        agent = TeacherAgent.load_file(path, frame_stack, deterministic, device, seed + steps)
        found.append(Demonstrator(path.name, steps, agent, f"{path.name}:{file_digest(path)}"))
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


class DemonstrationCache:
    """Episodes already played, one file per demonstrator under ``folder``, named by the fingerprint of
    ``context`` (everything the play depends on besides the demonstrator: game, perception, seed,
    step cap) and the demonstrator's identity.

    A demonstrator's k-th episode does not depend on how many follow it (its agent's random stream
    runs on from episode to episode), so the first episodes of a longer record serve a shorter
    request; a longer request plays every episode again and replaces the record. Objects are stored
    as one float64 row per object, so they come back exactly as the perception gave them.
    """

    def __init__(self, folder: Path, context: dict):
        self.folder = folder
        self.context = fingerprint(context)
        self.hits = 0  # demonstrators read rather than played

    def path(self, source: Demonstrator) -> Path:
        return self.folder / f"{fingerprint({'context': self.context, 'source': source.identity})}.npz"

    def load(self, source: Demonstrator, index: int, episodes: int) -> list[Demonstration]:
        """The first ``episodes`` episodes of ``source`` (``index``: its place in skill order), or []
        where fewer are kept."""
        path = self.path(source)
        if not path.is_file():
            return []
        with np.load(path) as data:
            header = json.loads(str(data["header"]))
            if header["identity"] != source.identity or len(header["episodes"]) < episodes:
                return []
            rows, counts, lengths = data["objects"], data["counts"], data["lengths"]
        fields, integral = header["fields"], header["integral"]
        found, row, step = [], 0, 0
        for episode, length in zip(header["episodes"][:episodes], lengths, strict=False):
            states = []
            for count in counts[step:step + length]:
                states.append([{f: int(v) if f in integral else v for f, v in zip(fields, obj, strict=True)}
                               for obj in rows[row:row + count].tolist()])
                row += count
            step += length
            found.append(Demonstration(source.name, index, episode["seed"], states, episode["true_return"]))
        self.hits += 1
        return found

    def save(self, source: Demonstrator, episodes: list[Demonstration]) -> None:
        objects = [o for e in episodes for state in e.states for o in state]
        fields = list(objects[0]) if objects else []
        kinds = [type(v) for v in objects[0].values()] if objects else []
        if any(kind not in (int, float) for kind in kinds) or any(
                list(o) != fields or [type(v) for v in o.values()] != kinds for o in objects):
            return  # not the perception's fixed layout of numbers: keep nothing rather than guess
        header = {"identity": source.identity, "fields": fields,
                  "integral": [f for f, kind in zip(fields, kinds, strict=True) if kind is int],
                  "episodes": [{"seed": e.seed, "true_return": e.true_return} for e in episodes]}
        arrays = {"header": np.array(json.dumps(header)),
                  "objects": np.array([[o[f] for f in fields] for o in objects], dtype=np.float64).reshape(
                      len(objects), len(fields)),
                  "counts": np.array([len(state) for e in episodes for state in e.states], dtype=np.int64),
                  "lengths": np.array([len(e.states) for e in episodes], dtype=np.int64)}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, **arrays)

        atomic_write(self.path(source), write)


def demonstrations(env_cfg: EnvConfig, sources: list[Demonstrator], perception: Perception, episodes: int,
                   max_steps: int, seed: int,
                   cache: DemonstrationCache | None = None) -> Iterator[Demonstration]:
    """``episodes`` whole games of each demonstrator, cut at ``max_steps``; the k-th game of every
    demonstrator starts from the same development seed, so skill, not the start, sets them apart.
    With a ``cache``, a demonstrator's kept games are read instead of played, and new ones are kept."""
    game = None  # opened for the first demonstrator that has to play
    try:
        for index, source in enumerate(sources):
            kept = cache.load(source, index, episodes) if cache is not None else []
            if kept:
                yield from kept
                continue
            if game is None:
                game = EnvCopies(env_cfg, 1)
            players, played = RecordingPlayers(source.agent), []
            for k in range(episodes):
                episode_seed = rollout_seed(seed + DEMONSTRATIONS, k)
                returns, _ = play(players, 1, [episode_seed], game, max_steps)
                states = read_states(perception, players.frames, players.infos)
                played.append(Demonstration(source.name, index, episode_seed, states, float(returns[0, 0])))
                yield played[-1]
            if cache is not None:
                cache.save(source, played)
    finally:
        if game is not None:
            game.close()


def read_states(perception: Perception, frames: list[np.ndarray], infos: list[dict]) -> list[list[dict]]:
    """One episode's objects, detected in chunks and tracked in order, as the dataset's were."""
    perception.reset()
    states = []
    for first in range(0, len(frames), CHUNK):
        batch = slice(first, first + CHUNK)
        for detections in perception.detect(frames[batch], infos[batch]):
            states.append(perception.update(detections))
    return states
