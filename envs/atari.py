"""Atari through ale-py with SB3's Atari wrappers, keeping RGB frames for the detector."""

from __future__ import annotations

import cv2
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

from envs.config import EnvConfig


class ResizeRGB(gym.ObservationWrapper):
    """Square RGB frames (RL-Zoo uses grey 84x84; colour keeps objects separable for SPACE)."""

    def __init__(self, env: gym.Env, size: int):
        super().__init__(env)
        self.size = size
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return cv2.resize(observation, (self.size, self.size), interpolation=cv2.INTER_AREA)


class RamInInfo(gym.Wrapper):
    """Puts the console RAM in ``info["ram"]``: OCAtari reads true objects from it (oracle source)."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return obs, {**info, "ram": self.env.unwrapped.ale.getRAM()}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, "ram": self.env.unwrapped.ale.getRAM()}


def make_atari(cfg: EnvConfig, train: bool, monitor: bool, render_mode: str | None = None) -> gym.Env:
    """The same wrapper order as SB3's AtariWrapper, with RGB resizing instead of WarpFrame."""
    env = gym.make(cfg.id, render_mode=render_mode, frameskip=1, repeat_action_probability=0.0,
                   **cfg.kwargs)
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
    env = ResizeRGB(env, cfg.obs_size or 84)
    if train and cfg.clip_reward:
        env = ClipRewardEnv(env)
    return RamInInfo(env)
