"""Built-in games, make_env for every kind, and unknown ids."""

from dataclasses import replace

import numpy as np
import pytest

from common.errors import UserError
from envs import action_names, env_kind, make_env, make_vec_env, teacher_frame
from envs.builtin import BuiltinFreeway, BuiltinPong
from envs.config import EnvConfig
from envs.info import SCREEN, perceived_frame
from tests.helpers import track_ball


@pytest.mark.parametrize("cls", [BuiltinPong, BuiltinFreeway])
def test_objects_match_pixels(cls):
    env = cls()
    frame, info = env.reset(seed=3)
    for _ in range(30):
        frame, _, _, _, info = env.step(env.action_space.sample())
    background = env.background
    for obj in info["objects"]:
        x, y = int(obj["x"]), int(obj["y"])
        assert not np.array_equal(frame[y, x], background), obj
        assert np.array_equal(frame[y, x], env.colours[obj["type"]])
    drawn = np.any(frame != background, axis=2).sum()
    assert drawn <= sum(o["width"] * o["height"] for o in info["objects"])


def test_pong_seeded_reset_is_deterministic():
    a, b = BuiltinPong(), BuiltinPong()
    fa, _ = a.reset(seed=7)
    fb, _ = b.reset(seed=7)
    for action in [1, 2, 0, 1] * 20:
        fa, ra, *_ = a.step(action)
        fb, rb, *_ = b.step(action)
    assert np.array_equal(fa, fb) and ra == rb


def test_pong_tracking_policy_wins_every_point():
    env = BuiltinPong()
    _, info = env.reset(seed=0)
    total, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, info = env.step(track_ball(info))
        total += reward
        done = terminated or truncated
    assert total == env.points


def test_variants_change_the_game():
    env = BuiltinPong(paddle_height=16, ball_colour=(255, 0, 0))
    frame, info = env.reset(seed=0)
    assert next(o for o in info["objects"] if o["type"] == 0)["height"] == 16
    assert (frame == np.array([255, 0, 0], np.uint8)).all(axis=2).sum() == 9
    freeway = BuiltinFreeway(lanes=3)
    _, info = freeway.reset(seed=0)
    assert sum(o["type"] == 1 for o in info["objects"]) == 3


def test_freeway_crossing_scores():
    env = BuiltinFreeway(lanes=1, car_speed=0.0)
    env.reset(seed=0)
    env.cars[0].x = -100  # parked out of the way
    total = sum(env.step(1)[1] for _ in range(40))
    assert total >= 1


def test_env_kinds_and_unknown_id():
    assert env_kind("BuiltinPong-v0") == "builtin"
    assert env_kind("PongNoFrameskip-v4") == "atari"
    assert env_kind("Airstriker-Genesis") == "retro"
    with pytest.raises(UserError, match="unknown environment id 'NoSuchGame-v9'"):
        env_kind("NoSuchGame-v9")


def test_bad_variant_kwargs_are_user_errors():
    with pytest.raises(UserError, match="env.kwargs"):
        make_env(EnvConfig(id="BuiltinPong-v0", kwargs={"paddle_hieght": 3}))


@pytest.mark.parametrize(("env_id", "screen"), [("PongNoFrameskip-v4", (210, 160)),
                                               ("Airstriker-Genesis", (224, 320))])
def test_emulated_games_give_their_own_screen_and_the_teacher_a_small_view(env_id, screen):
    cfg = EnvConfig(id=env_id)
    env = make_env(cfg, seed=0, train=True)
    frame, _ = env.reset(seed=0)
    assert frame.shape == (*screen, 3) and frame.dtype == np.uint8
    frame, *_ = env.step(0)
    assert frame.shape == (*screen, 3)
    env.close()
    assert len(action_names(cfg)) == env.action_space.n
    venv = make_vec_env(replace(cfg, frame_stack=2), n_envs=1, seed=0)
    assert venv.reset().shape == (1, 6, 84, 84)  # the teacher: 84x84, channel-first, two frames
    venv.close()
    small = teacher_frame(frame, (84, 84))
    assert small.shape == (84, 84, 3) and teacher_frame(small, (84, 84)) is small


@pytest.mark.parametrize("env_id", ["PongNoFrameskip-v4", "Airstriker-Genesis"])
def test_perception_reads_the_last_frame_of_a_pooled_frame_skip(env_id):
    env = make_env(EnvConfig(id=env_id), seed=0)
    frame, info = env.reset(seed=0)
    blended = 0
    for step in range(60):
        frame, _, _, _, info = env.step(step % env.action_space.n)
        screen = info[SCREEN]
        assert screen.shape == frame.shape and np.all(frame >= screen)  # the max over the last two frames
        assert perceived_frame(frame, info) is screen
        blended += int(np.any(frame != screen))  # a moving sprite shows twice in the pooled frame
    env.close()
    assert blended > 0
    assert SCREEN not in make_env(EnvConfig(id=env_id), seed=0, train=True).reset(seed=0)[1]
    assert perceived_frame(frame, {}) is frame  # games that do not pool: the observation itself


def test_vec_env_stacks_channel_first():
    venv = make_vec_env(EnvConfig(frame_stack=3), n_envs=2, seed=0)
    obs = venv.reset()
    assert obs.shape == (2, 9, 64, 64)
    venv.close()


def test_builtin_frame_skip_repeats_the_action():
    skipping = make_env(EnvConfig(frame_skip=3), seed=0)
    plain = make_env(EnvConfig(), seed=0)
    for _ in range(3):
        expected, *_ = plain.step(1)
    frame, *_ = skipping.step(1)
    np.testing.assert_array_equal(frame, expected)


def test_builtin_frame_skip_reports_velocities_per_agent_step():
    skipping = make_env(EnvConfig(frame_skip=2, kwargs={"serve_delay": 0}), seed=0)
    plain = make_env(EnvConfig(kwargs={"serve_delay": 0}), seed=0)
    plain.step(1)
    plain_ball = plain.step(1)[4]["objects"][2]
    ball = skipping.step(1)[4]["objects"][2]
    assert ball["vx"] == 2 * plain_ball["vx"] != 0
    assert ball["vy"] == 2 * plain_ball["vy"]


def test_training_envs_leave_out_true_objects_that_evaluation_keeps():
    cfg = EnvConfig()
    _, info = make_env(cfg).reset(seed=0)
    assert info["objects"]
    train_env = make_env(cfg, train=True)
    train_env.reset(seed=0)
    assert "objects" not in train_env.step(0)[4]
    eval_env = make_env(cfg)
    eval_env.reset(seed=0)
    assert eval_env.step(0)[4]["objects"]


def _enemy_rows(cfg: EnvConfig, seed: int, steps: int = 300) -> tuple[float, list[int]]:
    """Score and the enemy paddle's RAM row over ``steps`` random steps of Atari Pong."""
    env = make_env(cfg)
    env.reset(seed=seed)
    rng = np.random.RandomState(0)
    score, rows = 0.0, []
    for _ in range(steps):
        _, reward, *_, info = env.step(rng.randint(env.action_space.n))
        score += reward
        rows.append(int(info["ram"][21]))
    env.close()
    return score, rows


def test_hackatari_variants_change_the_game_and_repeat_per_seed():
    base = _enemy_rows(EnvConfig(id="PongNoFrameskip-v4"), 0)
    lazy_cfg = EnvConfig(id="PongNoFrameskip-v4", kwargs={"modifs": ["lazy_enemy"]})
    lazy = _enemy_rows(lazy_cfg, 0)
    assert lazy[1] != base[1]  # the enemy paddle no longer follows the ball
    assert _enemy_rows(lazy_cfg, 0) == lazy  # a variant's state starts anew with every game
    with pytest.raises(UserError, match="unknown HackAtari variant"):
        make_env(EnvConfig(id="PongNoFrameskip-v4", kwargs={"modifs": ["no_such_change"]}))


def test_a_game_without_a_point_ends_after_the_stall_limit_but_not_in_training():
    cfg = EnvConfig(id="BuiltinFreeway-v0", stall_steps=20)
    for train, ends_at in ((False, 20), (True, None)):
        env = make_env(cfg, seed=0, train=train)
        env.reset(seed=0)
        truncated_at = None
        for step in range(1, 41):  # standing still never scores
            *_, terminated, truncated, _ = env.step(0)
            if terminated or truncated:
                truncated_at = step
                break
        assert truncated_at == ends_at
        env.close()
