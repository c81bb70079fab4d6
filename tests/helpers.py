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
