"""stable-retro games for the pipeline: lives, stages, button combinations, frame skip, resize.

gym-retro does not install on Python 3.11; stable-retro is its maintained fork with the same
API. One emulator may run per process, so vectorised training uses subprocesses
(``envs.make_vec_env`` does that for retro games).
"""

from __future__ import annotations

import logging

import gymnasium as gym
import numpy as np
from stable_baselines3.common.atari_wrappers import ClipRewardEnv, MaxAndSkipEnv, StickyActionEnv
from stable_baselines3.common.monitor import Monitor

from envs.config import EnvConfig
from envs.info import SCREEN, InfoFromGame

log = logging.getLogger(__name__)

# Button combinations per game; a game without a preset gets DEFAULT_COMBOS.
COMBO_PRESETS: dict[str, list[list[str]]] = {
    "Airstriker-Genesis-v0": [[], ["LEFT"], ["RIGHT"], ["UP"], ["DOWN"], ["B"],
                              ["LEFT", "B"], ["RIGHT", "B"]],
}
DEFAULT_COMBOS: list[list[str]] = [[], ["LEFT"], ["RIGHT"], ["UP"], ["DOWN"], ["A"], ["B"],
                                   ["RIGHT", "A"], ["RIGHT", "B"], ["LEFT", "A"]]
STAGE_KEYS = ("level", "stage", "act", "zone", "world", "round")


def retro_game_name(env_id: str) -> str | None:
    """The stable-retro game for an id (``Airstriker-Genesis`` or ``Airstriker-Genesis-v0``)."""
    import stable_retro

    games = set(stable_retro.data.list_games(stable_retro.data.Integrations.ALL))
    for name in (env_id, f"{env_id}-v0"):
        if name in games:
            return name
    return None


def rom_available(game: str) -> bool:
    import stable_retro

    try:
        stable_retro.data.get_romfile_path(game, stable_retro.data.Integrations.ALL)
    except FileNotFoundError:
        return False
    return True


class ButtonCombos(gym.ActionWrapper):
    """A discrete set of sensible button combinations in place of the raw button bitmask."""

    def __init__(self, env: gym.Env, combos: list[list[str]]):
        super().__init__(env)
        buttons = list(env.unwrapped.buttons)
        unknown = sorted({b for combo in combos for b in combo} - set(buttons))
        if unknown:
            from common.errors import UserError

            raise UserError(f"env.retro_combos name unknown buttons {unknown}; this game has {buttons}")
        self.combos = combos
        self._masks = []
        for combo in combos:
            mask = np.zeros(len(buttons), dtype=np.int8)
            for button in combo:
                mask[buttons.index(button)] = 1
            self._masks.append(mask)
        self.action_space = gym.spaces.Discrete(len(combos))

    def action(self, action: int) -> np.ndarray:
        return self._masks[int(action)].copy()

    def get_action_meanings(self) -> list[str]:
        return ["+".join(combo) or "NOOP" for combo in self.combos]


class LifeLossEnds(gym.Wrapper):
    """A lost life ends the training episode but not the game (as SB3's EpisodicLifeEnv for ALE).

    The next ``reset`` continues the same game with a no-op step instead of restarting it.
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.lives = 0
        self.game_over = True

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = int(info.get("lives", 0))
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs):
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        self.lives = int(info.get("lives", 0))
        self.game_over = False
        return obs, info


class StageTracker(gym.Wrapper):
    """Detects stage changes from the game's RAM variables and reports them in ``info``.

    ``info["stage"]`` holds the current stage and ``info["stage_changed"]`` is true on the step
    it changed; training logs it. Games whose integration defines no stage variable report none.
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.stage = None

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.stage = self._read(info)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        stage = self._read(info)
        if stage is not None:
            info["stage"] = stage
            info["stage_changed"] = self.stage is not None and stage != self.stage
            if info["stage_changed"]:
                log.info("stage changed from %s to %s", self.stage, stage)
        self.stage = stage
        return obs, reward, terminated, truncated, info

    @staticmethod
    def _read(info: dict) -> tuple | None:
        values = tuple(info[k] for k in STAGE_KEYS if k in info)
        return values or None


def make_retro_env(cfg: EnvConfig, train: bool, monitor: bool) -> gym.Env:
    """A stable-retro game with combos, frame skip and (training) life-loss episodes, in its own
    screen size (the teacher's view is resized from it: ``envs.teacher_frame``)."""
    import stable_retro

    from common.errors import UserError

    game = retro_game_name(cfg.id)
    if game is None or not rom_available(game):
        raise UserError(
            f"no ROM for retro game '{cfg.id}'; import it with python -m stable_retro.import FOLDER "
            "(see README: retro games)"
        )
    state = cfg.retro_state or stable_retro.State.DEFAULT
    env = stable_retro.make(game, state=state, render_mode=None, **cfg.kwargs)
    if monitor:
        env = Monitor(env)
    env = ButtonCombos(env, cfg.retro_combos or COMBO_PRESETS.get(game, DEFAULT_COMBOS))
    if cfg.sticky_action_prob > 0:
        env = StickyActionEnv(env, cfg.sticky_action_prob)
    env = StageTracker(env)
    env = MaxAndSkipEnv(env, skip=cfg.frame_skip or 4)
    if train and cfg.terminal_on_life_loss:
        env = LifeLossEnds(env)
    if train and cfg.clip_reward:
        env = ClipRewardEnv(env)
    return env if train else InfoFromGame(env, {SCREEN: lambda game: game.em.get_screen()})
