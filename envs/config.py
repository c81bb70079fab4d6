"""The ``env`` section of a config: which game, its variant, and how frames reach the agent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.devices import check_n_jobs
from common.errors import UserError


@dataclass
class EnvConfig:
    """Which game and how its frames are shaped; variant options go to the game itself."""

    id: str = "BuiltinPong-v0"
    kwargs: dict[str, Any] = field(default_factory=dict)  # game variant (speeds, sizes, colours)
    frame_stack: int = 2  # frames stacked for the teacher's CNN
    frame_skip: int | None = None  # agent steps per emulator frame; None: 1 built-in, 4 Atari/retro
    obs_size: int | None = None  # square side of the observation; None: native (built-in) or 84
    grayscale: bool = False  # the teacher sees grey frames (the detector still reads RGB)
    max_episode_steps: int | None = None  # truncate longer episodes
    # played games (not training) end after this many agent steps without a change of score: a
    # Breakout policy that never presses FIRE after a lost life would otherwise play to the cap
    stall_steps: int | None = None
    terminal_on_life_loss: bool = True  # Atari/retro training: a lost life ends the episode
    clip_reward: bool = True  # Atari/retro training: reward sign, as RL-Zoo
    noop_max: int = 30  # Atari: random no-ops at reset, so starts differ
    sticky_action_prob: float = 0.0  # probability of repeating the last action (ALE v5 uses 0.25)
    retro_state: str | None = None  # stable-retro save state; None: the game's default
    retro_combos: list[list[str]] | None = None  # button combinations; None: the game's preset
    # play as a user's own game would: the true objects (built-in games' info["objects"]) and the
    # console RAM are deleted from every step, so no stage and no diagnostic can read them
    hide_truth: bool = False
    # processes that step the copies of the game symbolic policies play (Stage II-C's selection,
    # Stage III, evaluations) and run the detector on their frames (-1: every core; 1: this process);
    # how a stage runs, not what it makes (envs.workers)
    n_jobs: int = 1

    def __post_init__(self) -> None:
        check_n_jobs("env.n_jobs", self.n_jobs, UserError)
