"""Stage I benchmark: train the default teacher from scratch and report time and return.

    .venv/bin/python bench/teacher.py [--config configs/pong.yaml] [key=value ...]

Target (issue 2): the built-in default teacher reaches >= 90 % of the game's maximum return
within 5 minutes on 2 CPU cores (aim for 3).
"""

from __future__ import annotations

import argparse
import tempfile

import gymnasium as gym
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
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    config = load_config(args.config, args.overrides)
    with tempfile.TemporaryDirectory() as tmp:
        summary = train_visual_rl.main(["--config", args.config, "--run", f"{tmp}/run", *args.overrides])
    best = max_return(config)
    row = {"game": config.env.id, "steps": summary["timesteps"], "wall_s": summary["wall_seconds"],
           "frames_per_s": summary["frames_per_second"], "return": summary["return_mean"],
           "return_std": summary["return_std"], "max_return": best,
           "share_of_max": summary["return_mean"] / best if best else None}
    print(table([row], list(row)))
    print(f"results -> {save('teacher', row)}")


if __name__ == "__main__":
    main()
