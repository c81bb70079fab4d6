"""Atari teacher speed on 2 CPU cores: environment steps/s and PPO steps/s of both paths, side by side.

    .venv/bin/python bench/atari_speed.py [--game PongNoFrameskip-v4] [--env-steps 4000] [--ppo-steps 8192]

Environment alone (random actions, 8 games, the teacher's grey 84x84 stacks): SB3's wrappers over
gymnasium in one process (``dummy``) against ale-py's C++ vector env (``ale``). PPO (8 x 128 steps,
4 epochs of minibatch 256, 2 torch threads): the SB3 + gymnasium path with the Nature CNN, the
RL-Zoo recipe, against the ale path with the Nature CNN and with the half-width CNN the Atari
configs train (``teacher.policy: small``), without and with ``teacher.channels_last`` (the Atari
default). The PPO rows take turns, ``--repeats`` rounds, and report their mean. Target (issue 17):
the default path >= 3x the first. Writes results/atari_speed.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from benchlib import save, table  # noqa: I001  (puts the repository on sys.path)

from envs import make_vec_env
from pipeline.config import load_config
from pipeline.teacher import build_model

ROOT = Path(__file__).resolve().parents[1]


def env_steps_per_second(config, vec_env: str, steps: int) -> float:
    venv = make_vec_env(config.env, 8, seed=0, vec_env=vec_env)
    venv.reset()
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(steps // 8):
        venv.step(rng.integers(0, venv.action_space.n, 8))
    seconds = time.perf_counter() - start
    venv.close()
    return steps / seconds


def ppo_steps_per_second(config, vec_env: str, policy: str, channels_last: bool, steps: int) -> float:
    config.teacher.policy = policy
    config.teacher.channels_last = channels_last
    config.teacher.features_dim = 512 if policy == "CnnPolicy" else 256
    venv = make_vec_env(config.env, config.teacher.n_envs, seed=0, vec_env=vec_env)
    with tempfile.TemporaryDirectory() as tmp:
        model = build_model(config, venv, Path(tmp))
        model.learn(1024)  # warm-up: the first update allocates
        start = time.perf_counter()
        model.learn(steps, reset_num_timesteps=False)
        seconds = time.perf_counter() - start
    venv.close()
    return steps / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--game", default="PongNoFrameskip-v4")
    parser.add_argument("--env-steps", type=int, default=4000)
    parser.add_argument("--ppo-steps", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(2)
    config = load_config(ROOT / "configs" / "atari_pong.yaml", [f"env.id={args.game}"])
    rows = [{"measure": "env steps/s (random, 8 games)", "path": path,
             "steps_per_second": env_steps_per_second(config, path, args.env_steps)}
            for path in ("dummy", "ale")]
    ppo = [{"measure": "PPO steps/s", "path": path, "policy": policy, "channels_last": channels_last,
            "rounds": []}
           for path, policy, channels_last in (("dummy", "CnnPolicy", False), ("ale", "CnnPolicy", False),
                                               ("ale", "small", False), ("ale", "small", True))]
    for _ in range(args.repeats):
        for row in ppo:
            setting = row["path"], row["policy"], row["channels_last"]
            row["rounds"].append(ppo_steps_per_second(config, *setting, args.ppo_steps))
    for row in ppo:
        row["steps_per_second"] = float(np.mean(row["rounds"]))
        row["speedup_over_sb3_nature"] = row["steps_per_second"] / ppo[0]["steps_per_second"]
    rows += ppo
    print(table(rows, ["measure", "path", "policy", "channels_last", "steps_per_second",
                       "speedup_over_sb3_nature"]))
    print(f"results -> {save('atari_speed', {'game': args.game, 'ppo_steps': args.ppo_steps, 'rows': rows})}")


if __name__ == "__main__":
    main()
