"""Stage I benchmark: train the default teacher from scratch and report time and return.

    .venv/bin/python bench/teacher.py [--config configs/pong.yaml] [--seeds 0 1 2] [key=value ...]

Target (issue 2): the built-in default teacher reaches >= 90 % of the game's maximum return
within 5 minutes on 2 CPU cores (aim for 3).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
from benchlib import ROOT, save, table  # noqa: I001  (puts the repository on sys.path)

import train_visual_rl
from common.schema import load_config


def max_return(config) -> float | None:
    """The game's maximum return where it is known (built-in games)."""
    env = gym.make(config.env.id, **config.env.kwargs).unwrapped
    value = getattr(env, "max_return", None) or getattr(env, "points", None)
    return float(value) if value is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--config", default=str(ROOT / "configs" / "pong.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="training seeds, one teacher each: PPO's outcome varies between seeds")
    parser.add_argument("--runs", type=Path, default=ROOT / "bench" / "runs",
                        help="teachers are kept in RUNS/teacher-seed<N> for inspection")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    config = load_config(args.config, args.overrides)
    best = max_return(config)
    rows = []
    for seed in args.seeds:
        run = args.runs / f"teacher-seed{seed}"
        if run.exists():
            shutil.rmtree(run)
        summary = train_visual_rl.main(["--config", args.config, "--run", str(run), "--seed", str(seed),
                                        *args.overrides])
        rows.append({"seed": seed, "steps": summary["timesteps"], "wall_s": summary["wall_seconds"],
                     "frames_per_s": summary["frames_per_second"], "return": summary["return_mean"],
                     "return_std": summary["return_std"],
                     "share_of_max": summary["return_mean"] / best if best else None})
    print(f"{config.env.id}, maximum return {best}")
    print(table(rows, list(rows[0])))
    if len(rows) > 1:
        shares = [row["share_of_max"] for row in rows if row["share_of_max"] is not None]
        if shares:
            print(f"share of the maximum over {len(shares)} seeds: mean {np.mean(shares):.3f}, "
                  f"min {min(shares):.3f}; seeds reaching 90 %: {sum(s >= 0.9 for s in shares)}")
    print(f"results -> {save('teacher', {'game': config.env.id, 'max_return': best, 'runs': rows})}")


if __name__ == "__main__":
    main()
