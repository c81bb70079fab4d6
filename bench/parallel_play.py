"""Symbolic agents' games in one process and in worker processes (env.n_jobs), side by side.

    .venv/bin/python bench/parallel_play.py --config configs/atari_pong.yaml --run runs/atari_pong

The run's distilled program plays ``--games`` test seeds side by side (whole games, ``--max-steps`` cap)
through the run's own perception, once with every copy in this process (``env.n_jobs=1``) and once
in ``--workers`` worker processes, ``--repeats`` times each, alternating. Reports agent steps per
second of each and whether the returns are equal (they must be). Writes results/parallel_play.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from benchlib import games_from, run_config, save  # noqa: I001  (puts the repository on sys.path)

from gplearn_custom.evaluation import evaluate_symbolic
from gplearn_custom.language.forest import SymbolicForest
from see.perception import Perception


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=3000)
    parser.add_argument("--games", type=int, default=16, help="games side by side (test seeds from 1000)")
    args = parser.parse_args()
    config, run = run_config(args.config, args.run, [])
    forest = SymbolicForest.load(run.path / "distill" / "program.json")
    perception = Perception.of_run(run.path)[1]
    eval_cfg = games_from(dataclasses.replace(config.evaluation, max_steps=args.max_steps), args.games)
    timings: dict[int, list[float]] = {1: [], args.workers: []}
    returns, steps = {}, {}
    for _ in range(args.repeats):
        for workers in timings:
            env_cfg = dataclasses.replace(config.env, n_jobs=workers)
            start = time.perf_counter()
            result = evaluate_symbolic(forest, env_cfg, eval_cfg, perception)
            timings[workers].append(time.perf_counter() - start)
            returns[workers], steps[workers] = result.returns, sum(result.lengths)
    rows = [{"processes": w, "seconds": t, "best_seconds": min(t), "agent_steps": steps[w],
             "agent_steps_per_second": steps[w] / min(t), "returns": returns[w]} for w, t in timings.items()]
    speedup = rows[0]["best_seconds"] / rows[1]["best_seconds"]
    result = {"command": "python bench/parallel_play.py " + " ".join(
                  f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
              "env_id": config.env.id, "detector": config.detector.source, "copies": len(eval_cfg.seeds),
              "rows": rows, "speedup": speedup, "same_returns": returns[1] == returns[args.workers]}
    save("parallel_play", result)
    for row in rows:
        print(f"{row['processes']} process(es): {row['agent_steps_per_second']:.0f} agent steps/s")
    print(f"speed-up {speedup:.2f}x, same returns: {result['same_returns']}")


if __name__ == "__main__":
    main()
