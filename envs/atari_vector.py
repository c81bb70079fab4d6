"""ale-py's C++ vector environment as an SB3 ``VecEnv``: the fast path for Atari teachers on a CPU.

``ale_py.vector_env.AtariVectorEnv`` steps its games on its own threads and does the Atari
preprocessing natively (grey frames resized to ``obs_size``, a stack of ``frame_stack``, frame skip
with max-pooling, no-op starts, FIRE at reset). SB3 wants a ``VecEnv``: this adapter gives it one,
with what the gymnasium path's wrappers add:

- a lost life ends the training episode but not the game (``life_loss_info``; ale-py's own
  ``episodic_life`` restarts the whole game instead, unlike SB3's ``EpisodicLifeEnv``);
- rewards are clipped here, after the raw score is added to the game's return, so
  ``info["episode"]`` holds raw scores of whole games, as SB3's ``Monitor`` below the training
  wrappers reports them;
- ``info["terminal_observation"]`` on every episode end, for SB3's bootstrap on truncation.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvObs, VecEnvStepReturn

from common.errors import UserError
from envs.config import EnvConfig


def rom_name(env_id: str) -> str:
    """ale-py's ROM name of an Atari id (``PongNoFrameskip-v4`` -> ``pong``)."""
    import ale_py

    gym.register_envs(ale_py)
    game = gym.spec(env_id).kwargs.get("game")
    if not game:
        raise UserError(f"{env_id} names no Atari ROM; teacher.vec_env=ale needs an Atari id")
    return game


class AleVecEnv(VecEnv):
    """``n_envs`` Atari games stepped by ale-py's thread pool, seen as SB3's ``VecEnv``."""

    def __init__(self, cfg: EnvConfig, n_envs: int, size: int, train: bool = True, num_threads: int = 0):
        """``size``: the side of the teacher's square frames (``envs.teacher_size``)."""
        from ale_py.vector_env import AtariVectorEnv

        if not cfg.grayscale:
            raise UserError("teacher.vec_env=ale gives grey frames; set env.grayscale=true")
        self.env = AtariVectorEnv(
            rom_name(cfg.id), n_envs, num_threads=num_threads, autoreset_mode="SameStep",
            img_height=size, img_width=size, grayscale=True,
            stack_num=cfg.frame_stack, frameskip=cfg.frame_skip or 4, maxpool=True,
            noop_max=cfg.noop_max, repeat_action_probability=cfg.sticky_action_prob,
            episodic_life=False, life_loss_info=train and cfg.terminal_on_life_loss,
            reward_clipping=False, use_fire_reset=True,
            # 27k agent steps = 108k frames by default, as the v4 ids
            max_num_frames_per_episode=(cfg.max_episode_steps or 27_000) * (cfg.frame_skip or 4),
        )
        self.clip_reward = train and cfg.clip_reward
        self.skip = cfg.frame_skip or 4
        super().__init__(n_envs, self.env.single_observation_space, self.env.single_action_space)
        self._actions: np.ndarray | None = None
        self._game_return = np.zeros(n_envs)
        self._game_length = np.zeros(n_envs, dtype=np.int64)
        self._game_frame = np.zeros(n_envs, dtype=np.int64)
        self._start = time.time()

    def reset(self) -> VecEnvObs:
        seeded = self._seeds[0] is not None  # VecEnv.seed(s) gives game i the seed s + i
        obs, info = self.env.reset(seed=np.array(self._seeds, dtype=np.int64) if seeded else None)
        self._game_return[:] = 0
        self._game_length[:] = 0
        self._game_frame[:] = info["episode_frame_number"]
        self._reset_seeds()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, terminated, truncated, info = self.env.step(self._actions)
        reward = reward.astype(np.float64)
        self._game_return += reward
        self._game_length += 1
        dones = terminated | truncated
        # a new game starts with its frame counter; a lost life leaves it counting
        new_game = dones & (info["episode_frame_number"] < self._game_frame)
        self._game_frame[:] = info["episode_frame_number"]
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(dones):
            infos[i]["terminal_observation"] = info["final_obs"][i]
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            if new_game[i]:
                # "l" in emulator frames, as SB3's Monitor below the frame skip counts them
                infos[i]["episode"] = {"r": float(self._game_return[i]),
                                       "l": int(self._game_length[i]) * self.skip,
                                       "t": round(time.time() - self._start, 6)}
                self._game_return[i] = 0
                self._game_length[i] = 0
        if self.clip_reward:
            reward = np.sign(reward)
        return obs, reward.astype(np.float32), dones, infos

    def close(self) -> None:
        self.env.close()

    def get_attr(self, attr_name: str, indices: Sequence[int] | int | None = None) -> list[Any]:
        if attr_name == "render_mode":
            return [None] * len(self._get_indices(indices))
        raise AttributeError(f"AleVecEnv has no per-environment attribute '{attr_name}'")

    def set_attr(self, attr_name: str, value: Any, indices: Sequence[int] | int | None = None) -> None:
        raise AttributeError(f"AleVecEnv cannot set '{attr_name}' on its games")

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        raise AttributeError(f"AleVecEnv's games have no method '{method_name}' to call")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices=None) -> list[bool]:
        return [False] * len(self._get_indices(indices))
