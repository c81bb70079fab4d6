"""Atari through ale-py with SB3's Atari wrappers, keeping the 210x160 RGB screen for the detector
(the teacher's 84x84 view is made from it: ``envs.teacher_frame``)."""

from __future__ import annotations

import gymnasium as gym
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


class RamInInfo(gym.Wrapper):
    """Puts the console RAM in ``info["ram"]``: OCAtari reads true objects from it (oracle source)."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return obs, {**info, "ram": self.env.unwrapped.ale.getRAM()}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, "ram": self.env.unwrapped.ale.getRAM()}


def make_atari(cfg: EnvConfig, train: bool, monitor: bool, render_mode: str | None = None) -> gym.Env:
    """SB3's AtariWrapper order without WarpFrame: the frames stay the raw RGB screen."""
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
    if train and cfg.clip_reward:
        env = ClipRewardEnv(env)
    return RamInInfo(env)
