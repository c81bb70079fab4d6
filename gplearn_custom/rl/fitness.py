"""Reward fitness: the return of each forest playing the game through perception.

Every forest plays the same episodes (the same seeds; the built-in games start differently per
seed), greedily as it will be evaluated, with each episode cut at a step cap. All episodes of all
forests run side by side in one ``Lockstep`` through ``envs.play.play``: each step reads the
objects of every copy at once and runs each forest once on the rows of the copies it plays.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from common.seeds import draw_selection_seeds
from envs.play import play as play_episodes
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.rl.lockstep import ForestPlayers, Lockstep


def episode_returns(forests: Sequence[SymbolicForest], seeds: Sequence[int], game: Lockstep,
                    max_steps: int, end_on_loss: bool = False) -> np.ndarray:
    """(len(forests), len(seeds)) undiscounted returns of greedy play, episodes cut at ``max_steps``
    (and at the first lost point with ``end_on_loss``)."""
    return play(forests, seeds, game, max_steps, end_on_loss)[0]


def play(forests: Sequence[SymbolicForest], seeds: Sequence[int], game: Lockstep,
         max_steps: int, end_on_loss: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Returns and episode lengths, each (len(forests), len(seeds)), of greedy play."""
    return play_episodes(ForestPlayers(forests, game), len(forests), seeds, game.envs, max_steps,
                         end_on_loss)


def fitness(returns: np.ndarray, sizes: Sequence[int], parsimony: float) -> np.ndarray:
    """Mean return per forest minus ``parsimony`` per node (higher is better)."""
    return returns.mean(axis=1) - parsimony * np.asarray(sizes, dtype=np.float64)


def selection_returns(forests: Sequence[SymbolicForest], rng: np.random.RandomState, episodes: int,
                      exclude: Collection[int], game: Lockstep, max_steps: int) -> np.ndarray:
    """Whole games that choose between candidates (the distillation's restarts, Stage III's output):
    every forest plays the same ``episodes`` seeds of the selection range, drawn from ``rng``,
    none in ``exclude``; returns (len(forests), episodes)."""
    return episode_returns(forests, draw_selection_seeds(rng, episodes, exclude), game, max_steps)
