"""Package a trained teacher for the zoo: 30 evaluation games, the training curve, the config.

    .venv/bin/python bench/zoo.py --run runs/atari_pong --out zoo/atari_pong [--episodes 30]

The teacher of ``RUN/teacher`` plays ``--episodes`` whole games (raw scores, no episodic-life reset,
greedy actions) on the evaluation seeds counted on from the config's first; ``OUT`` receives
``teacher.zip`` (the weights without Adam's moment estimates, which only a resumed training would
read and which take twice the weights' bytes), the resolved ``config.yaml``, ``eval.json``
(returns, mean, a 95 % bootstrap interval, the training summary and the command that trained it)
and ``curve.png``.
Writes results/zoo_<name>.json too.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from benchlib import bootstrap_ci, games_from, save  # noqa: I001  (puts the repository on sys.path)

from common.config import from_dict, load_yaml
from common.io import read_json, write_json
from pipeline.config import Config
from reporting.curves import plot_curves, read_scalars
from teacher.agent import MODEL_FILE, TeacherAgent, evaluate_teacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--command", default="", help="the command that trained the teacher, for eval.json")
    args = parser.parse_args()
    stage = args.run / "teacher"
    config = from_dict(Config, load_yaml(stage / "config.yaml"))
    eval_cfg = games_from(config.evaluation, args.episodes)
    agent = TeacherAgent.load(stage, config.env.frame_stack)
    result = evaluate_teacher(agent, config.env, eval_cfg)
    args.out.mkdir(parents=True, exist_ok=True)
    agent.model.policy.optimizer.state.clear()  # a resumed training starts Adam's moments afresh
    agent.model.save(args.out / MODEL_FILE)
    shutil.copyfile(stage / "config.yaml", args.out / "config.yaml")
    series = read_scalars(stage, ["rollout/ep_rew_mean", "eval/mean_reward"])
    plot_curves(series, args.out / "curve.png", f"{config.env.id} teacher", "step")
    report = {"env_id": config.env.id, "episodes": args.episodes, "seeds": eval_cfg.seeds,
              "protocol": "whole games, raw scores, greedy actions, no sticky actions, 30 no-op starts",
              **result.summary(), "return_ci95": bootstrap_ci(result.returns),
              "training": read_json(stage / "complete.json")["summary"], "command": args.command}
    write_json(args.out / "eval.json", report)
    save(f"zoo_{args.out.name}", report)
    print(f"{config.env.id}: {result.mean:.2f} ± {result.std:.2f} over {args.episodes} games "
          f"(95 % CI {report['return_ci95'][0]:.2f} to {report['return_ci95'][1]:.2f}) -> {args.out}")


if __name__ == "__main__":
    main()
