"""Episode seeds in three disjoint ranges, named once (DESIGN.md, "Seeds and evidence").

- ``TEST``: reported returns only (``evaluation.seeds`` must lie in it); no stage plays them.
- ``DEVELOPMENT``: every rollout that makes data or trains: the teacher's training and its
  evaluation callback, frames, the dataset, DAgger, and benches that compare settings. Rollouts
  number their episodes from the config's seed and step over the test range (``rollout_seed``).
- ``SELECTION``: games that choose between candidates inside a stage (the distillation's
  restarts, Stage III's fitness, PPO rollouts and the choice of its output), drawn at random.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import numpy as np

from common.errors import UserError

TEST = range(1_000, 10_000)
SELECTION = range(2**30, 2**31 - 1)
DEVELOPMENT_END = SELECTION.start  # development seeds: [0, 2**30) without TEST
# the reward stage's demonstrations number their episodes from the config's seed plus this, so they do
# not replay the episodes of the frames and the dataset
DEMONSTRATIONS = 100_000


def is_development(seed: int) -> bool:
    return 0 <= seed < DEVELOPMENT_END and seed not in TEST


def rollout_seed(base: int, episode: int) -> int:
    """The seed of a rollout's ``episode``-th episode: ``base + episode``, stepping over ``TEST``."""
    seed = base + episode
    return seed + len(TEST) if seed >= TEST.start else seed


def draw_selection_seeds(rng: np.random.RandomState, n: int, exclude: Collection[int] = ()) -> list[int]:
    """``n`` distinct seeds of the selection range drawn from ``rng`` (none of ``exclude``)."""
    seeds: list[int] = []
    while len(seeds) < n:
        seed = SELECTION.start + int(rng.randint(len(SELECTION)))
        if seed not in exclude and seed not in seeds:
            seeds.append(seed)
    return seeds


def check_test_seeds(seeds: Iterable[int], key: str = "evaluation.seeds") -> None:
    """Reported returns are played on test seeds only."""
    outside = [s for s in seeds if s not in TEST]
    if outside:
        raise UserError(f"{key} must lie in the test range [{TEST.start}, {TEST.stop}) (common/seeds.py), "
                        f"got {outside[:5]}")
