"""What a game's ``info`` holds besides the observation: what is read off the emulator, what is
dropped, and which frame perception reads.

Its own module so that the game makers (``envs/atari.py``, ``retro_utils.py``) and perception
(``see/perception.py``) share it without importing the package's factory, which imports them.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np

SCREEN = "screen"  # info key: the emulator's last frame, where a frame skip pools two


class InfoWrapper(gym.Wrapper):
    """Passes observations, rewards and ends through and rewrites ``info`` at every reset and step
    (``rewrite_info``)."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return obs, self.rewrite_info(info)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, self.rewrite_info(info)

    def rewrite_info(self, info: dict) -> dict:
        raise NotImplementedError


class InfoFromGame(InfoWrapper):
    """Adds what ``reads`` take from the unwrapped game to ``info`` at every reset and step: Atari's
    console RAM (``ram``: OCAtari's truth, for diagnostics) and the emulator's last frame (``screen``).

    With a frame skip, Atari's and retro's observation is the max of the last two frames: the
    teacher's input, as it was trained, which keeps sprites drawn every other frame. There a moving
    object is drawn twice, one frame apart, so its box is stretched and its centre is half a move
    behind. Perception reads the last frame instead (``perceived_frame``), the frame OCAtari's RAM
    truth describes (README: Atari detection on the raw screen).
    """

    def __init__(self, env: gym.Env, reads: dict[str, Callable[[gym.Env], np.ndarray]]):
        super().__init__(env)
        self.reads = reads  # of the unwrapped game: they hold no emulator past ``close``

    def rewrite_info(self, info: dict) -> dict:
        game = self.env.unwrapped
        return {**info, **{key: read(game) for key, read in self.reads.items()}}


class WithoutInfo(InfoWrapper):
    """Deletes the named ``info`` keys at every reset and step.

    Training drops ``objects``: SB3's DummyVecEnv deep-copies every info every step and the teacher
    never reads the true objects (about 7 % of its training time). ``env.hide_truth`` drops
    ``objects`` and ``ram``: the pipeline then sees what a user's game without truth gives it.
    """

    def __init__(self, env: gym.Env, keys: tuple[str, ...]):
        super().__init__(env)
        self.keys = keys

    def rewrite_info(self, info: dict) -> dict:
        return {k: v for k, v in info.items() if k not in self.keys}


def perceived_frame(frame: np.ndarray, info: dict | None) -> np.ndarray:
    """The frame the detector reads: the emulator's last frame where the game gives it
    (``InfoFromGame``), else the observation itself (the built-in games, which do not pool)."""
    return info[SCREEN] if info and SCREEN in info else frame
