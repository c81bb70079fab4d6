"""The ``reward`` section of a config: T-REX demonstrations, pairs, network and its symbolic reading."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import check_ranges
from common.errors import UserError

RANK_BY = ("checkpoint", "return")


@dataclass
class RewardConfig:
    """``learn_reward.py``: rank the teacher's checkpoints' play, fit a reward to the ranking (T-REX,
    Brown et al. 2019) on the dataset's object states, and distil it into one program.

    The defaults fit a built-in game in a few minutes on 2 CPU cores.
    """

    # demonstrations: whole episodes of each checkpoint of the teacher (oldest first), played through the
    # dataset's perception; a uniform random player is the lowest rank (a policy before any training)
    episodes_per_checkpoint: int = 10
    include_random: bool = True
    deterministic: bool = False  # checkpoints sample their actions, so one checkpoint's games differ
    max_episode_steps: int = 1000
    # "return": rank by the measured game score, as T-REX ranked its Atari demonstrations; "checkpoint": a
    # later checkpoint is better (no score read; on built-in Pong it ranked held-out episodes worse, README)
    rank_by: str = "return"
    # the extrapolation test: the last checkpoints (the best trained) are never trained on, only evaluated
    heldout_checkpoints: int = 1
    heldout_share: float = 0.25  # of the other episodes, held out for the evaluation
    # Bradley-Terry pairs of clips from differently ranked episodes
    pairs: int = 3000
    clip_length: int = 40  # states per clip (shorter episodes give shorter clips)
    # share of the pairs that compare two whole episodes instead of two clips: their sums over unequal
    # lengths fix the reward's level, which equal clips leave free (README: learned rewards)
    whole_episode_share: float = 0.0
    # an ensemble of small MLPs on the features of one state; members see bootstrap draws of the pairs
    ensemble: int = 3
    hidden: int = 64
    epochs: int = 4
    batch_size: int = 64
    learning_rate: float = 1.0e-3
    # the networks' inputs: standardised features clipped to +-input_clip deviations (0: no clip), as SB3's
    # VecNormalize clips at 10: a rarely missing object's flag is otherwise a hundred deviations out
    input_clip: float = 10.0
    weight_decay: float = 1.0e-4
    # the readable reward: one program regressed on the ensemble's per-state reward
    symbolic_population: int = 500
    symbolic_generations: int = 20
    symbolic_parsimony: float = 0.002  # R^2 per node
    symbolic_max_size: int = 20
    symbolic_states: int = 5000  # training states the program is fitted on (random subset)
    torch_threads: int = 1

    def __post_init__(self) -> None:
        if self.rank_by not in RANK_BY:
            raise UserError(f"reward.rank_by must be one of {', '.join(RANK_BY)}, got '{self.rank_by}'")
        check_ranges("reward", self,
                     at_least_one=("episodes_per_checkpoint", "max_episode_steps", "pairs", "clip_length",
                                   "ensemble", "hidden", "epochs", "batch_size", "symbolic_population",
                                   "symbolic_generations", "symbolic_max_size", "symbolic_states",
                                   "torch_threads"),
                     non_negative=("heldout_checkpoints", "weight_decay", "input_clip", "symbolic_parsimony"),
                     unit=("heldout_share", "whole_episode_share"), positive=("learning_rate",))
        if self.heldout_share >= 1:
            raise UserError("reward.heldout_share must leave episodes to train on (below 1), "
                            f"got {self.heldout_share}")
