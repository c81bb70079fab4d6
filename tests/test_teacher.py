"""Teacher plumbing: PPO smoke runs on every kind of game, frame stacking as in training."""

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from common.errors import UserError
from envs import make_vec_env
from envs.config import EnvConfig
from envs.evaluation import EvalConfig, evaluate
from pipeline.config import Config
from pipeline.teacher import EXTRACTORS, check_config, schedule, train_teacher
from teacher.agent import TeacherAgent, evaluate_teacher
from teacher.cnn import expected_positions
from teacher.config import TeacherConfig
from tests.helpers import PONG, track_ball, untrained_teacher_run


def tiny_config(env_id: str, **env) -> Config:
    teacher = TeacherConfig(total_timesteps=128, n_envs=2, n_steps=64, batch_size=64, n_epochs=1,
                            checkpoint_freq=64, eval_freq=10**9, features_dim=32, torch_threads=1)
    return Config(env=EnvConfig(id=env_id, **env), teacher=teacher,
                  evaluation=EvalConfig(seeds=[1], max_steps=30))


@pytest.mark.parametrize(
    ("env_id", "env"),
    [("PongNoFrameskip-v4", {"frame_stack": 4, "obs_size": 64}),
     ("Airstriker-Genesis", {"frame_stack": 2, "obs_size": 64})],
)
def test_ppo_smoke_on_emulated_games(tmp_path, env_id, env):
    summary = train_teacher(tiny_config(env_id, **env), tmp_path, resume=False, progress_bar=False)
    assert summary["timesteps"] >= 128
    assert (tmp_path / "teacher.zip").is_file()
    assert list((tmp_path / "checkpoints").glob("ppo_*_steps.zip"))
    assert np.isfinite(summary["return_mean"])


@pytest.mark.parametrize("grayscale", [False, True])
def test_teacher_agent_sees_what_training_saw(tmp_path, grayscale):
    config = tiny_config("BuiltinPong-v0", frame_stack=3, grayscale=grayscale)
    venv = make_vec_env(config.env, n_envs=1, seed=0, train=False)
    assert venv.observation_space.shape == ((3 if grayscale else 9), 64, 64)
    model = PPO("CnnPolicy", venv, n_steps=32, batch_size=32, device="cpu")
    agent = TeacherAgent(model, frame_stack=3)
    obs = venv.reset()
    raw = venv.venv.venv.envs[0]  # under the frame stack and transpose wrappers
    frames = [raw.unwrapped.render()]
    for action in [1, 2, 1]:
        obs, *_ = venv.step(np.array([action]))
        frames.append(raw.unwrapped.render())
    assert agent.grey == grayscale
    for frame in frames:
        stacked = agent.observe(frame)
    np.testing.assert_array_equal(stacked, obs[0])
    probs = agent.probs(frames[-1])
    assert probs.shape == (3,) and np.isclose(probs.sum(), 1.0)
    venv.close()


def test_expected_positions_find_the_peak_of_each_map():
    maps = torch.zeros(1, 2, 16, 16)
    maps[0, 0, 3, 12] = 50.0  # row 3, column 12: x = -1 + 12 * 2/15, y = -1 + 3 * 2/15
    points = expected_positions(maps)
    assert points.shape == (1, 2, 2)
    assert points[0, 0].tolist() == pytest.approx([0.6, -0.6], abs=1e-4)
    assert points[0, 1].tolist() == pytest.approx([0.0, 0.0], abs=1e-4)  # a flat map: the centre


@pytest.mark.parametrize("policy", ["compact", "keypoints"])
def test_teacher_networks_train_and_load(tmp_path, policy):
    config = tiny_config("BuiltinPong-v0")
    config.teacher.policy = policy
    train_teacher(config, tmp_path, resume=False, progress_bar=False)
    agent = TeacherAgent.load(tmp_path, config.env.frame_stack)
    assert type(agent.model.policy.features_extractor) is EXTRACTORS[policy]
    frame = np.zeros((64, 64, 3), np.uint8)
    assert agent.probs(frame).shape == (3,)


def test_channels_last_is_the_same_network_in_another_memory_order(tmp_path):
    """``teacher.channels_last`` reorders the network's tensors, not what it computes: the same seed
    gives the same probabilities, and a training with it saves a teacher that loads and plays."""
    from pipeline.teacher import build_model

    config = tiny_config("PongNoFrameskip-v4", frame_stack=4)
    config.teacher.policy = "small"
    venv = make_vec_env(config.env, 2, seed=0)
    obs = torch.as_tensor(venv.reset())
    plain = build_model(config, venv, None)
    config.teacher.channels_last = True
    reordered = build_model(config, venv, None)
    conv = reordered.policy.features_extractor.cnn[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    with torch.no_grad():
        expected = plain.policy.get_distribution(obs).distribution.probs
        assert torch.allclose(reordered.policy.get_distribution(obs).distribution.probs, expected, atol=1e-6)
    venv.close()
    train_teacher(config, tmp_path, resume=False, progress_bar=False)
    agent = TeacherAgent.load(tmp_path, config.env.frame_stack)
    assert agent.probs(np.zeros((210, 160, 3), np.uint8)).shape == (6,)


def test_linear_schedule():
    lr = schedule("lin_2.5e-4", "learning_rate")
    assert lr(1.0) == pytest.approx(2.5e-4) and lr(0.5) == pytest.approx(1.25e-4)
    assert schedule(0.1, "clip_range") == 0.1


def test_evaluation_uses_fixed_seeds():
    class Tracker:
        def reset(self):
            pass

        def act(self, frame, info):
            return track_ball(info)

    cfg = EvalConfig(seeds=[3, 4])
    first = evaluate(Tracker(), EnvConfig(), cfg)
    second = evaluate(Tracker(), EnvConfig(), cfg)
    assert first.returns == second.returns == [5.0, 5.0]
    assert first.lengths == second.lengths


def test_torch_threads_are_set(tmp_path):
    config = tiny_config("BuiltinPong-v0")
    train_teacher(config, tmp_path, resume=False, progress_bar=False)
    assert torch.get_num_threads() == 1


def evaluated_config(**teacher) -> Config:
    """A tiny teacher of 512 steps evaluated every 128 steps, on one episode."""
    config = tiny_config("BuiltinPong-v0")
    config.teacher = TeacherConfig(total_timesteps=512, n_envs=2, n_steps=64, batch_size=64, n_epochs=1,
                                   checkpoint_freq=10**9, eval_freq=128, eval_episodes=1, features_dim=32,
                                   **teacher)
    return config


@pytest.mark.parametrize("stop_at", [None, -5.0])
def test_training_stops_once_an_evaluation_reaches_stop_at_return(tmp_path, stop_at):
    config = evaluated_config(stop_at_return=stop_at)
    summary = train_teacher(config, tmp_path, resume=False, progress_bar=False)
    # -5 is the lowest return there is: the first evaluation (after 128 steps) reaches it
    assert summary["stopped_early"] is (stop_at is not None)
    assert (summary["timesteps"] <= 128) is (stop_at is not None)
    assert (tmp_path / "teacher.zip").is_file()


@pytest.mark.parametrize("keep", ["best", "final"])
def test_keep_chooses_which_model_later_stages_read(tmp_path, keep):
    config = evaluated_config(keep=keep)
    summary = train_teacher(config, tmp_path, resume=False, progress_bar=False)
    # the best model is saved at an evaluation (step 128 or later), the final one after step 512
    kept = (tmp_path / "teacher.zip").read_bytes()
    assert kept == (tmp_path / f"{keep}_model.zip").read_bytes()
    assert kept != (tmp_path / f"{'final' if keep == 'best' else 'best'}_model.zip").read_bytes()
    assert summary["kept"] == f"{keep}_model"


def test_keep_must_be_best_or_final():
    config = tiny_config("BuiltinPong-v0")
    config.teacher.keep = "last"
    with pytest.raises(UserError, match="teacher.keep"):
        check_config(config)


def test_the_configured_device_is_used_and_auto_means_a_gpu_where_there_is_one(tmp_path, monkeypatch):
    from common.devices import torch_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert torch_device("auto") == "cpu" and torch_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert torch_device("auto") == "cuda"
    monkeypatch.undo()
    venv = make_vec_env(EnvConfig(), n_envs=1, seed=0, train=False)
    PPO("CnnPolicy", venv, n_steps=32, batch_size=32, device="cpu").save(tmp_path / "teacher.zip")
    venv.close()
    agent = TeacherAgent.load(tmp_path, frame_stack=1, device="auto")
    assert agent.model.device.type == torch_device("auto")


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_the_teacher_plays_every_seed_side_by_side_as_one_after_the_other(tmp_path, n_jobs):
    from dataclasses import replace

    from pipeline.config import load_config

    config = load_config(PONG)
    run = untrained_teacher_run(tmp_path / "run", config)
    teacher = TeacherAgent.load(run / "teacher", config.env.frame_stack)
    eval_cfg = EvalConfig(seeds=[1000, 1001, 1002], max_steps=120)
    together = evaluate_teacher(teacher, replace(config.env, n_jobs=n_jobs), eval_cfg)
    alone = evaluate(teacher, config.env, eval_cfg)
    assert (together.returns, together.lengths) == (alone.returns, alone.lengths)
    with pytest.raises(ValueError, match="greedy"):
        evaluate_teacher(TeacherAgent(teacher.model, 2, deterministic=False), config.env, eval_cfg)
