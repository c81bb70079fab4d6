"""Learned rewards (T-REX) on finished pipeline runs: how well they rank held-out episodes, and what
fine-tuning on them finds, scored by the game.

    .venv/bin/python bench/learned_reward.py --config configs/pong.yaml --runs runs/pong_s0 runs/pong_s1 \
        runs/pong_s2 [--name learned_reward_pong] [key=value ...]

Each run folder needs finished teacher, dataset and distill stages, made with the same config and its
own ``--seed`` (read from the run's teacher/config.yaml). The reward stage is run where it is missing
(``learn_reward.py``, same config); one made with other settings stops the bench, or with
``--relearn`` is learned again (the run's played demonstrations are reused, so it takes the training
time only, not the minutes of play). Then Stage III's
search runs twice from the run's distilled forest with the same seed and budget, once on the game's
score and once on the learned reward; both outputs are evaluated on the test seeds by the game's
score. Written to results/<name>.json, with the mean and 95 % bootstrap interval over runs of every
figure; a run's row replaces the file's row of the same run folder, the others are kept, so runs may
be measured by separate commands (with the same overrides).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from benchlib import REWARD_FIGURES, merged_rows, over_runs, reward_figures, run_config, save, table  # noqa: I001  (puts the repository on sys.path)

import learn_reward
from common.io import read_json
from pipeline.finetune import evaluate_forest, load_inputs, random_return, search
from pipeline.run import stage_state


def one_run(config_path: str, run: Path, overrides: list[str], relearn: bool) -> dict:
    config, folder = run_config(config_path, run, overrides)
    seed = config.seed
    stage, state = stage_state(folder, learn_reward, config)
    if state in ("stale", "other settings") and not relearn:
        raise SystemExit(f"error: {stage.path} was made with other settings or inputs; pass --relearn to "
                         "learn the reward again with these (replacing it), or move it aside")
    if state != "complete":
        flag = {"started": ["--resume"], "stale": ["--force"], "other settings": ["--force"]}.get(state, [])
        learn_reward.main(["--config", config_path, "--run", str(run), "--seed", str(seed), *overrides,
                           *flag])
    reward = read_json(run / "reward" / "eval.json")
    row = {"run": str(run), "seed": seed, **reward_figures(reward),
           "symbolic_reward": reward["symbolic"]["program"], "symbolic_size": reward["symbolic"]["size"],
           "reward_seconds": reward["seconds"], "best_training_return": reward["best_training_return"]}
    for name in ("game", "learned"):
        variant = dataclasses.replace(config, finetune=dataclasses.replace(config.finetune, reward=name))
        inputs = load_inputs(variant, folder)
        started = time.perf_counter()
        result = search(variant, inputs, progress=False)
        row[f"{name}_seconds"] = time.perf_counter() - started
        evaluated = evaluate_forest(result.forest, inputs.perception, variant)
        row[f"finetune_{name}"] = evaluated["return_mean"]
        row[f"finetune_{name}_size"] = result.forest.size
        row[f"finetune_{name}_chosen"] = result.chosen
        if name == "game":
            row["distilled"] = evaluate_forest(inputs.forest, inputs.perception, variant)["return_mean"]
    row["random"] = random_return(config)["return_mean"]
    row["ratio"] = row["finetune_learned"] / row["finetune_game"] if row["finetune_game"] else None
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--runs", nargs="+", required=True)
    parser.add_argument("--name", default=None, help="results/<name>.json (default: learned_reward_<config>)")
    parser.add_argument("--relearn", action="store_true",
                        help="learn a run's reward again where it was made with other settings (replaces it)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    rows = [{**one_run(args.config, Path(run), args.overrides, args.relearn), "overrides": args.overrides}
            for run in args.runs]
    name = args.name or f"learned_reward_{Path(args.config).stem}"
    rows = merged_rows(name, rows, key=lambda row: row["run"])
    if len({tuple(row.get("overrides", ())) for row in rows}) > 1:
        raise SystemExit(f"error: results/{name}.json holds runs made with other overrides; pass --name "
                         "for a new results file, or run every run again with these")
    figures = (*REWARD_FIGURES, "distilled", "finetune_game", "finetune_learned", "random")
    summary = {k: over_runs([r[k] for r in rows if r[k] is not None]) for k in figures}
    game, learned = summary["finetune_game"]["mean"], summary["finetune_learned"]["mean"]
    summary["ratio_of_means"] = learned / game if game else None
    print(table(rows, ["seed", *figures]))
    print({k: (round(v["mean"], 3), [round(c, 3) for c in v["ci95"]]) for k, v in summary.items()
           if isinstance(v, dict)}, "ratio of means", summary["ratio_of_means"])
    runs = [row["run"] for row in rows]
    command = " ".join(["bench/learned_reward.py --config", args.config, "--runs", *runs, *args.overrides])
    print(f"results -> {save(name, {'command': command, 'rows': rows, 'summary': summary})}")


if __name__ == "__main__":
    main()
