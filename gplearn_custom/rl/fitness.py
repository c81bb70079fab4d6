"""Reward fitness: the return of each forest playing the game through perception.

Every forest plays the same episodes (the same seeds; the built-in games start differently per
seed), greedily as it will be evaluated, with each episode cut at a step cap. All episodes of all
forests run side by side in one ``Lockstep``: each step reads the objects of every copy at once
and runs each forest once on the rows of the copies it plays.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.rl.lockstep import Lockstep

SEED_RANGE = 2**31 - 1


def draw_seeds(rng: np.random.RandomState, n: int, exclude: Collection[int] = ()) -> list[int]:
    """``n`` distinct episode seeds, none of them in ``exclude`` (the evaluation seeds)."""
    seeds: list[int] = []
    while len(seeds) < n:
        seed = int(rng.randint(SEED_RANGE))
        if seed not in exclude and seed not in seeds:
            seeds.append(seed)
    return seeds


def episode_returns(forests: Sequence[SymbolicForest], seeds: Sequence[int], game: Lockstep,
                    max_steps: int) -> np.ndarray:
    """(len(forests), len(seeds)) undiscounted returns of greedy play, episodes cut at ``max_steps``."""
    return play(forests, seeds, game, max_steps)[0]


def play(forests: Sequence[SymbolicForest], seeds: Sequence[int], game: Lockstep,
         max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns and episode lengths, each (len(forests), len(seeds)), of greedy play."""
    jobs = [(f, s) for f in range(len(forests)) for s in range(len(seeds))]
    returns = np.zeros((len(forests), len(seeds)))
    lengths = np.zeros((len(forests), len(seeds)), dtype=np.int64)
    for start in range(0, len(jobs), len(game)):
        batch = jobs[start:start + len(game)]
        owner = np.array([f for f, _ in batch])
        active = np.arange(len(batch))  # copy k plays batch[k]
        X, _ = game.reset(active, [seeds[s] for _, s in batch])
        for _ in range(max_steps):
            actions = np.empty(len(active), dtype=np.int64)
            owners = owner[active]
            for f in np.unique(owners):
                rows = owners == f
                actions[rows] = forests[f].predict(X[rows])
            out = game.step(active, actions)
            for k, copy in enumerate(active):
                returns[batch[copy]] += out.rewards[k]
                lengths[batch[copy]] += 1
            alive = ~(out.terminated | out.truncated)
            active, X = active[alive], out.features[alive]
            if len(active) == 0:
                break
    return returns, lengths


def fitness(returns: np.ndarray, sizes: Sequence[int], parsimony: float) -> np.ndarray:
    """Mean return per forest minus ``parsimony`` per node (higher is better)."""
    return returns.mean(axis=1) - parsimony * np.asarray(sizes, dtype=np.float64)
