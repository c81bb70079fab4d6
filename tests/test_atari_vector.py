"""The ale-py vector path against the gymnasium + SB3-wrapper path it replaces for training.

Step for step equality is not to be had: the two reset sequences differ by a step, and ale-py's
grey palette rounds differently from OpenCV's. What must hold: the same observation layout, the
same frames up to rounding once the game runs, clipped training rewards, raw whole-game scores in
``info["episode"]``, and a lost life ending the training episode but not the game.
"""

from __future__ import annotations

import numpy as np
import pytest

from common.errors import UserError
from envs import make_vec_env
from envs.config import EnvConfig


def atari(game: str, **kwargs) -> EnvConfig:
    return EnvConfig(id=f"{game}NoFrameskip-v4", frame_stack=4, grayscale=True, obs_size=84, **kwargs)


def test_frames_match_the_sb3_path_up_to_rounding():
    cfg = atari("Pong", noop_max=0)
    fast, slow = (make_vec_env(cfg, 1, 0, vec_env=kind) for kind in ("ale", "dummy"))
    first_fast, first_slow = fast.reset(), slow.reset()
    assert first_fast.shape == first_slow.shape == (1, 4, 84, 84) and first_fast.dtype == np.uint8
    assert fast.observation_space == slow.observation_space and fast.action_space == slow.action_space
    assert not first_fast[0, :3].any() and not first_slow[0, :3].any()  # zeros before the first frame
    for _ in range(8):
        obs_fast, *_ = fast.step(np.array([0]))
        obs_slow, *_ = slow.step(np.array([0]))
    difference = np.abs(obs_fast[0].astype(int) - obs_slow[0]).mean(axis=(1, 2))
    assert (difference < 1.0).all(), difference  # grey levels of 255
    fast.close()
    slow.close()


@pytest.mark.parametrize("kind", ["ale", "dummy"])
def test_lives_end_training_episodes_and_games_report_raw_scores(kind):
    venv = make_vec_env(atari("Breakout"), 2, seed=0, vec_env=kind)
    venv.reset()
    rng = np.random.default_rng(0)
    ends, games, rewards = 0, [], set()
    for _ in range(1500):
        _, reward, done, infos = venv.step(rng.integers(0, 4, 2))
        rewards.update(reward.tolist())
        ends += int(done.sum())
        games += [info["episode"]["r"] for info in infos if "episode" in info]
    venv.close()
    assert rewards <= {0.0, 1.0}  # clipped for training
    assert games and ends >= 5 * len(games)  # five lives a game, each loss ends a training episode
    assert all(score >= 0 for score in games)


def test_the_vector_path_is_for_grey_atari_only():
    with pytest.raises(UserError, match="Atari games only"):
        make_vec_env(EnvConfig(), 1, 0, vec_env="ale")
    with pytest.raises(UserError, match="env.grayscale=true"):
        make_vec_env(EnvConfig(id="PongNoFrameskip-v4"), 1, 0, vec_env="ale")
