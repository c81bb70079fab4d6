"""Atari through Stage II-A: the raw screen to the detector, the teacher's small view, and OCAtari's
objects saved with the frames so that the detector is scored per true type (privileged scores)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import yaml

import save_frames
from common.io import read_json
from common.runs import RunFolder
from common.shards import read_shard
from envs import make_env, make_vec_env
from pipeline.config import Config
from pipeline.detector import main as detector_main
from pipeline.teacher import build_model
from space.oracle import AtariRamObjects
from teacher.agent import TeacherAgent
from teacher.config import TeacherConfig
from tests.helpers import untrained_teacher_run

PONG = "PongNoFrameskip-v4"


@pytest.mark.parametrize("grayscale", [False, True])
def test_the_teacher_sees_on_the_raw_screen_what_training_saw(grayscale):
    """Training's view (84x84 through make_vec_env) equals the teacher agent's own view of the raw
    210x160 screens of the same seeded game."""
    config = Config(teacher=TeacherConfig(n_envs=1, n_steps=32, batch_size=32, features_dim=16))
    config = replace(config, env=replace(config.env, id=PONG, frame_stack=2, grayscale=grayscale))
    venv = make_vec_env(config.env, 1, seed=5, train=False)
    model = build_model(config, venv, None)
    agent = TeacherAgent(model, frame_stack=2)
    raw = make_env(config.env)
    venv.seed(5)  # building the model reset the copies once; seed the next reset
    obs, frame = venv.reset(), raw.reset(seed=5)[0]
    assert frame.shape == (210, 160, 3) and obs.shape == (1, 2 if grayscale else 6, 84, 84)
    for action in (0, 2, 3, 2):
        stacked = agent.observe(frame)
        np.testing.assert_array_equal(stacked, obs[0])
        obs, *_ = venv.step(np.array([action]))
        frame, *_ = raw.step(action)
    venv.close()
    raw.close()


def untrained_run(folder, name: str, settings: dict) -> list[str]:
    """A run folder with a finished, untrained teacher for ``settings`` (a config as a dict)."""
    from pipeline.config import load_config

    run, config_path = folder / name, folder / f"{name}.yaml"
    config_path.write_text(yaml.safe_dump(settings))
    untrained_teacher_run(run, load_config(config_path))
    return ["--config", str(config_path), "--run", str(run)]


TINY_TEACHER = {"n_envs": 1, "n_steps": 32, "batch_size": 32, "features_dim": 16}


@pytest.fixture(scope="module")
def atari_run(tmp_path_factory):
    """An untrained Atari Pong teacher and a tiny config."""
    return untrained_run(tmp_path_factory.mktemp("atari"), "pong", {
        "env": {"id": PONG, "frame_stack": 2, "grayscale": True}, "teacher": TINY_TEACHER,
        "frames": {"n_frames": 60, "shard_size": 30},
        "detector": {"source": "segment", "roi": [0.0, 0.16, 1.0, 0.92], "eval": {"tolerance": 5.0},
                     "train": {"eval_frames": 40}}})


def test_retro_frames_run_with_one_emulator_in_the_process(tmp_path):
    """stable-retro allows one emulator per process: the frames stage must not open a second."""
    args = untrained_run(tmp_path, "airstriker", {
        "env": {"id": "Airstriker-Genesis", "frame_stack": 2, "obs_size": 64}, "teacher": TINY_TEACHER,
        "frames": {"n_frames": 12, "shard_size": 12}})
    save_frames.main(args)
    meta = read_json(tmp_path / "airstriker" / "frames" / "meta.json")
    assert meta["n_frames"] == 12 and meta["object_types"] is None and len(meta["action_names"]) > 1
    shard = read_shard(tmp_path / "airstriker" / "frames" / meta["shards"][0])
    assert shard.frames.shape == (12, 224, 320, 3)  # the Genesis screen


def test_atari_frames_keep_the_raw_screen_and_ocataris_objects(atari_run):
    save_frames.main(atari_run)
    run = RunFolder(atari_run[3]).path
    meta = read_json(run / "frames" / "meta.json")
    assert meta["object_types"] == AtariRamObjects("Pong").type_names
    shard = read_shard(run / "frames" / meta["shards"][0])
    assert shard.frames.shape == (30, 210, 160, 3)
    assert shard.objects is not None and sum(len(o) for o in shard.objects) > 0
    detector_main(["train", *atari_run])  # the segment source: nothing to train, scored on held-out frames
    report = read_json(run / "space" / "eval.json")
    assert report["objects_known"] and set(report["per_type"]) == set(meta["object_types"])
    assert report["f1"] > 0.9  # Pong's sprites on the raw screen (README: detector table)
