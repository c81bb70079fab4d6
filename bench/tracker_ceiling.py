"""What the program language can do through a run's perception: a hand-written Pong tracker.

    .venv/bin/python bench/tracker_ceiling.py --runs bench/runs/pong_seed0 bench/runs/pong_seed1 \
        [--config configs/pong.yaml] [--games 20]

Per finished built-in Pong run, the 5-node forest NOOP ``0``, UP ``-ball.dy``, DOWN ``ball.dy`` (the
ball is the run's white type, found by its name; ``dy`` is its height relative to the agent's)
plays ``--games`` whole games on development seeds through the run's own perception. It is written
by hand from the game's rule, so it is a diagnostic of the search's room (can the language and the
perception hold a perfect player?), never an agent of the tool. Writes results/tracker_ceiling_pong.json,
merging rows by run.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from benchlib import bootstrap_ci, merged_rows, save, table  # noqa: I001  (puts the repository on sys.path)

from gplearn_custom.evaluation import evaluate_symbolic
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import from_tokens
from pipeline.config import load_config
from see.perception import Perception

FIRST_GAME = 20  # development seeds (the test range starts at 1000)


def tracker(distilled: SymbolicForest) -> SymbolicForest:
    """NOOP 0, UP -ball.dy, DOWN ball.dy over the distilled forest's features."""
    ball = next(name for name in distilled.feature_names if "white" in name and name.endswith("[0].dy"))
    programs = [from_tokens(tokens, distilled.feature_names) for tokens in ([0.0], ["neg", ball], [ball])]
    return SymbolicForest(programs, distilled.feature_names, distilled.action_names, distilled.function_names,
                          distilled.feature_spec, distilled.scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", required=True)
    parser.add_argument("--config", default="configs/pong.yaml")
    parser.add_argument("--games", type=int, default=20)
    args = parser.parse_args()
    config = load_config(args.config, [], 0)
    games = dataclasses.replace(config.evaluation, seeds=list(range(FIRST_GAME, FIRST_GAME + args.games)))
    rows = []
    for run in (Path(r) for r in args.runs):
        distilled = SymbolicForest.load(run / "distill" / "program.json")
        _, perception = Perception.of_run(run)
        if perception is None:
            raise SystemExit(f"error: {run} has no perception (dataset.meta.json); run the pipeline first")
        forest = tracker(distilled)
        played = evaluate_symbolic(forest, config.env, games, perception)
        rows.append({"run": str(run), "programs": dict(zip(forest.action_names, forest.to_json()["programs"],
                                                             strict=True)),
                     "return_mean": played.mean,
                     "ci95": bootstrap_ci(played.returns), "returns": list(played.returns),
                     "games": args.games, "seeds": games.seeds})
    rows = merged_rows("tracker_ceiling_pong", rows, key=lambda row: row["run"])
    print(table(rows, ["run", "return_mean", "games"]))
    print(f"results -> {save('tracker_ceiling_pong', {'config': args.config, 'rows': rows})}")


if __name__ == "__main__":
    main()
