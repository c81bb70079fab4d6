"""Atari through ale-py with SB3's Atari wrappers, keeping the 210x160 RGB screen for the detector
(the teacher's 84x84 view is made from it: ``envs.teacher_frame``).

``env.kwargs.modifs`` names HackAtari's variants of the game (``lazy_enemy``, ``stop_all_cars``,
``drunken_boxing``, ...): the ``hackatari`` package's own RAM edits, applied to the emulator before
every frame as HackAtari does, beneath the same wrappers, so a variant is played exactly as the
game is (frames, frame skip, no-op starts, scores).
"""

from __future__ import annotations

import importlib
import random

import gymnasium as gym
import numpy as np
from stable_baselines3.common.atari_wrappers import (
    ClipRewardEnv,
    EpisodicLifeEnv,
    FireResetEnv,
    MaxAndSkipEnv,
    NoopResetEnv,
    StickyActionEnv,
)
from stable_baselines3.common.monitor import Monitor

from common.errors import UserError
from envs.config import EnvConfig
from envs.info import SCREEN, InfoFromGame


def game_name(env_id: str) -> str:
    """``PongNoFrameskip-v4`` or ``ALE/Pong-v5`` -> ``pong``."""
    name = env_id.split("/")[-1].split("-")[0]
    for suffix in ("NoFrameskip", "Deterministic"):
        name = name.removesuffix(suffix)
    return name.lower()


class Modifications(gym.Wrapper):
    """HackAtari's variants of the game: its edits of the console RAM before every emulator frame
    (and at reset), read and written through this wrapper as HackAtari's own environment would.

    Some variants draw from Python's ``random`` (``drunken_boxing``); a reset with a seed seeds it,
    so a variant's games repeat like the game's own.
    """

    def __init__(self, env: gym.Env, modifs: list[str]):
        super().__init__(env)
        game = game_name(env.spec.id if env.spec else "")
        try:
            module = importlib.import_module(f"hackatari.games.{game}")
        except ModuleNotFoundError:
            raise UserError(f"HackAtari has no variants of {game}; drop env.kwargs.modifs") from None
        unknown = [m for m in modifs if not hasattr(module.GameModifications, m)]
        if unknown:
            raise UserError(f"unknown HackAtari variant(s) of {game}: {', '.join(unknown)}; see the "
                            f"methods of hackatari.games.{game}.GameModifications")
        self.module, self.modifs = module, modifs
        self._start()

    def _start(self) -> None:
        """Fresh edit functions: each variant's state (timers, last positions) starts anew per game."""
        self.timer = 0  # some variants keep a counter on the environment
        self.each_frame, self.at_reset, self.after_frame = self.module.modif_funcs(self, self.modifs)

    def get_ram(self) -> np.ndarray:
        return self.env.unwrapped.ale.getRAM()

    def set_ram(self, index: int, value: int) -> None:
        self.env.unwrapped.ale.setRAM(index, int(value) % 256)

    def reset(self, **kwargs):
        if kwargs.get("seed") is not None:
            random.seed(kwargs["seed"])
        obs, info = self.env.reset(**kwargs)
        self._start()
        for edit in (*self.at_reset, *self.after_frame):
            edit()
        return obs, info

    def step(self, action):
        for edit in self.each_frame:
            edit()
        out = self.env.step(action)
        for edit in self.after_frame:
            edit()
        return out


def make_atari(cfg: EnvConfig, train: bool, monitor: bool, render_mode: str | None = None) -> gym.Env:
    """SB3's AtariWrapper order without WarpFrame: the frames stay the raw RGB screen."""
    kwargs = dict(cfg.kwargs)
    modifs = kwargs.pop("modifs", [])
    env = gym.make(cfg.id, render_mode=render_mode, frameskip=1, repeat_action_probability=0.0, **kwargs)
    if modifs:
        env = Modifications(env, list(modifs))
    if monitor:
        env = Monitor(env)
    if cfg.sticky_action_prob > 0:
        env = StickyActionEnv(env, cfg.sticky_action_prob)
    if cfg.noop_max > 0:
        env = NoopResetEnv(env, noop_max=cfg.noop_max)
    env = MaxAndSkipEnv(env, skip=cfg.frame_skip or 4)
    if train and cfg.terminal_on_life_loss:
        env = EpisodicLifeEnv(env)
    if "FIRE" in env.unwrapped.get_action_meanings():
        env = FireResetEnv(env)
    if train and cfg.clip_reward:
        env = ClipRewardEnv(env)
    reads = {"ram": lambda game: game.ale.getRAM()}  # OCAtari reads true objects from it (oracle source)
    if not train:
        reads[SCREEN] = lambda game: game.ale.getScreenRGB()
    return InfoFromGame(env, reads)
