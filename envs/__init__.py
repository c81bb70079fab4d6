"""One ``make_env(config)`` for built-in games, Atari (ale-py) and retro games (stable-retro).

Every environment yields the game's own RGB frames (H, W, 3) uint8 as observations (Atari: the
210x160 screen, max-pooled over the skipped frames), which the detector reads at its own input
size (Atari and retro: the last of the skipped frames, ``envs.info.perceived_frame``). The teacher sees them
smaller: ``teacher_frame`` resizes a frame to ``env.obs_size`` (84 for Atari and retro games) the
one way both training (``make_vec_env``) and the later stages' teacher (``teacher.agent``) do it.
``train=True`` adds the training-only wrappers (a lost life ends the episode, clipped rewards);
evaluation plays whole games with raw scores.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import cv2
import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecEnv,
    VecFrameStack,
    VecTransposeImage,
)

from common.errors import UserError
from envs.builtin import BuiltinFreeway, BuiltinPong
from envs.config import EnvConfig
from envs.info import WithoutInfo

BUILTIN_GAMES: dict[str, type[gym.Env]] = {
    "BuiltinPong-v0": BuiltinPong,
    "BuiltinFreeway-v0": BuiltinFreeway,
}
for _id, _cls in BUILTIN_GAMES.items():
    if _id not in gym.registry:
        gym.register(_id, entry_point=_cls)


class ActionRepeat(gym.Wrapper):
    """Frame skip for the built-in games: repeat the action, sum rewards, keep the last frame.

    Unlike Atari's max-pooling skip, nothing is blended, so sprites stay sharp for the detector.
    The true velocities in ``info["objects"]`` are scaled to pixels per agent step, the unit a
    tracker measures between the frames the agent sees.
    """

    def __init__(self, env: gym.Env, repeat: int):
        super().__init__(env)
        self.repeat = repeat

    def step(self, action):
        total = 0.0
        for _ in range(self.repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        for obj in info.get("objects", []):
            obj["vx"], obj["vy"] = obj["vx"] * self.repeat, obj["vy"] * self.repeat
        return obs, total, terminated, truncated, info


def teacher_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A frame as the teacher sees it: resized to (height, width) by pixel-area averaging, as
    RL-Zoo's WarpFrame (the frame itself where it has that size already)."""
    if frame.shape[:2] == tuple(size):
        return frame
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)


class TeacherView(gym.ObservationWrapper):
    """The teacher's frames in training: ``teacher_frame`` at a square ``size``."""

    def __init__(self, env: gym.Env, size: int):
        super().__init__(env)
        self.size = (size, size)
        channels = env.observation_space.shape[2]
        self.observation_space = gym.spaces.Box(0, 255, (size, size, channels), np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return teacher_frame(observation, self.size)


def teacher_size(cfg: EnvConfig) -> int | None:
    """The side of the teacher's square frames: ``obs_size``, else 84 for Atari and retro games and
    the native frame (None) for the built-in games."""
    if cfg.obs_size:
        return cfg.obs_size
    return None if env_kind(cfg.id) == "builtin" else 84


def to_grey(frame: np.ndarray) -> np.ndarray:
    """An (H, W, 3) RGB frame as (H, W, 1) luminance (OpenCV's ITU-R 601 weights)."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[..., None]


class GreyFrames(gym.ObservationWrapper):
    """The teacher's grey view of an RGB game: a third of the pixels to stack, copy and convolve."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        height, width, _ = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0, 255, (height, width, 1), np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return to_grey(observation)


class StallLimit(gym.Wrapper):
    """Truncates a game after ``steps`` agent steps in a row without any reward."""

    def __init__(self, env: gym.Env, steps: int):
        super().__init__(env)
        self.steps, self.quiet = steps, 0

    def reset(self, **kwargs):
        self.quiet = 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.quiet = 0 if reward != 0 else self.quiet + 1
        return obs, reward, terminated, truncated or self.quiet >= self.steps, info


@cache
def _atari_ids() -> frozenset[str]:
    import ale_py

    gym.register_envs(ale_py)
    return frozenset(i for i, spec in gym.registry.items() if "ale_py" in str(spec.entry_point))


def env_kind(env_id: str) -> str:
    """``builtin``, ``atari`` or ``retro``; an unknown id is a user error naming the options."""
    if env_id in BUILTIN_GAMES:
        return "builtin"
    if env_id in _atari_ids():
        return "atari"
    from retro_utils import retro_game_name

    if retro_game_name(env_id) is not None:
        return "retro"
    raise UserError(
        f"unknown environment id '{env_id}'; use a built-in game ({', '.join(BUILTIN_GAMES)}), "
        "an Atari id such as PongNoFrameskip-v4 or ALE/Pong-v5, or a retro game such as "
        "Airstriker-Genesis (see README: importing ROMs)"
    )


def check_env_id(env_id: str) -> None:
    env_kind(env_id)


def make_env(cfg: EnvConfig, seed: int | None = None, train: bool = False,
             monitor: bool = False, render_mode: str | None = None) -> gym.Env:
    """One environment yielding RGB frames; ``monitor`` records true episode returns (SB3 Monitor)."""
    kind = env_kind(cfg.id)
    if kind == "retro":
        from retro_utils import make_retro_env

        env = make_retro_env(cfg, train=train, monitor=monitor)
    elif kind == "atari":
        from envs.atari import make_atari

        env = make_atari(cfg, train=train, monitor=monitor, render_mode=render_mode)
    else:
        try:
            env = gym.make(cfg.id, render_mode=render_mode, **cfg.kwargs)
        except TypeError as exc:
            raise UserError(f"env.kwargs do not fit {cfg.id}: {exc}") from None
        if monitor:
            env = Monitor(env)
        if (cfg.frame_skip or 1) > 1:
            env = ActionRepeat(env, cfg.frame_skip)
        if train:
            env = WithoutInfo(env, ("objects",))
    if cfg.hide_truth:
        env = WithoutInfo(env, ("objects", "ram"))
    if cfg.max_episode_steps:
        env = gym.wrappers.TimeLimit(env, cfg.max_episode_steps)
    if cfg.stall_steps and not train:
        env = StallLimit(env, cfg.stall_steps)
    if seed is not None:
        env.action_space.seed(seed)
        env.reset(seed=seed)
    return env


def make_vec_env(cfg: EnvConfig, n_envs: int, seed: int, train: bool = True,
                 vec_env: str = "dummy") -> VecEnv:
    """The teacher's view: ``n_envs`` copies with Monitor, grey frames if ``cfg.grayscale``,
    frame stacking and channel-first images, as SB3 expects. ``ale`` (Atari only) builds the same
    view in ale-py's C++ vector environment, about twice as fast on 2 cores."""
    if vec_env not in ("dummy", "subproc", "ale"):
        raise UserError(f"teacher.vec_env must be 'dummy', 'subproc' or 'ale', got '{vec_env}'")
    if vec_env == "ale":
        if env_kind(cfg.id) != "atari":
            raise UserError(f"teacher.vec_env=ale runs Atari games only, not {cfg.id}; use 'dummy'")
        from envs.atari_vector import AleVecEnv

        venv = AleVecEnv(cfg, n_envs, teacher_size(cfg), train=train)
        venv.seed(seed)
        return venv
    if env_kind(cfg.id) == "retro":
        vec_env = "subproc"  # stable-retro allows one emulator per process
    size = teacher_size(cfg)

    def factory(rank: int) -> Callable[[], gym.Env]:
        def build() -> gym.Env:
            env = make_env(cfg, train=train, monitor=True)
            if size is not None:
                env = TeacherView(env, size)
            if cfg.grayscale:
                env = GreyFrames(env)
            env.action_space.seed(seed + rank)
            return env

        return build

    fns = [factory(i) for i in range(n_envs)]
    venv = SubprocVecEnv(fns, start_method="fork") if vec_env == "subproc" else DummyVecEnv(fns)
    venv.seed(seed)
    if cfg.frame_stack > 1:
        venv = VecFrameStack(venv, cfg.frame_stack)
    return VecTransposeImage(venv)


def action_names(cfg: EnvConfig) -> list[str]:
    env = make_env(cfg)
    try:
        try:
            names = list(env.get_wrapper_attr("get_action_meanings")())
        except AttributeError:
            names = None
        n = env.action_space.n
    finally:
        env.close()
    return names or [f"action{i}" for i in range(n)]


def object_type_names(cfg: EnvConfig) -> list[str] | None:
    """Names of the true object types, where the game knows them (built-in games)."""
    cls = BUILTIN_GAMES.get(cfg.id)
    return list(cls.OBJECT_TYPES) if cls else None


def frame_shape(cfg: EnvConfig) -> tuple[int, int, int]:
    env = make_env(cfg)
    try:
        return tuple(np.shape(env.observation_space.sample()))
    finally:
        env.close()
