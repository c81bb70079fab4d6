"""Small shared helpers for tests that run the stage scripts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PONG = ROOT / "configs" / "pong.yaml"
# A teacher that trains in seconds: enough for the later stages' plumbing, not to play well.
TINY_TEACHER = ["teacher.total_timesteps=512", "teacher.n_envs=2", "teacher.n_steps=128",
                "teacher.batch_size=128", "teacher.n_epochs=1", "teacher.checkpoint_freq=256",
                "teacher.eval_freq=256", "teacher.eval_episodes=1", "evaluation.seeds=[1000]",
                "evaluation.max_steps=50"]


def untrained_teacher_run(run: Path, config) -> Path:
    """``run`` holding a finished, untrained teacher for ``config`` (a ``pipeline.config.Config``):
    seconds instead of a training run, for the later stages' plumbing."""
    from common.runs import RunFolder
    from envs import make_vec_env
    from pipeline.teacher import build_model
    from teacher.agent import MODEL_FILE

    venv = make_vec_env(config.env, 1, seed=0, train=False)
    model = build_model(config, venv, None)
    venv.close()
    RunFolder(run).create_marker(config.env.id)
    (run / "teacher").mkdir()
    model.save(run / "teacher" / MODEL_FILE)
    teacher = RunFolder(run).stage("teacher", "train_visual_rl.py")
    teacher.finish(teacher.key(config, ("teacher",), ()), {})
    return run


def run_script(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a stage script in a fresh interpreter from the repository root."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def track_ball(info: dict) -> int:
    """The scripted Pong policy: move the paddle towards the ball (NOOP when it is off screen)."""
    by_type = {o["type"]: o for o in info["objects"]}
    if 0 not in by_type or 2 not in by_type:
        return 0
    agent, ball = by_type[0], by_type[2]
    return 1 if ball["y"] < agent["y"] - 1 else 2 if ball["y"] > agent["y"] + 1 else 0
