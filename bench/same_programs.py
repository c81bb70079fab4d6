"""Same seed, same programs: a recorded comparison that a refactor of the evolution left its course alone.

    python bench/same_programs.py --record   # before the change: writes results/same_programs.json
    python bench/same_programs.py            # after it: exits 1 where any program differs from the record

Runs both searches with small settings and fixed seeds: the distiller (joint and coordinate
strategies, constants tuned by L-BFGS) on a fixed set of built-in Pong feature vectors labelled by a
hand-made player, and Stage III's reward evolution (PPO on constants, fresh forests, selection) on
built-in Pong. The record holds every output program in prefix tokens, so a difference is readable.
"""

from __future__ import annotations

import argparse
import sys

from benchlib import RESULTS, save


def distilled_programs() -> dict:
    import numpy as np

    from gplearn_custom.genetic import SymbolicPolicyDistiller
    from gplearn_custom.language.program import to_tokens

    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(400, 6))
    y = np.where(X[:, 2] - X[:, 0] > 0.1, 1, np.where(X[:, 2] - X[:, 0] < -0.1, 2, 0))
    out = {}
    for strategy in ("joint", "coordinate"):
        est = SymbolicPolicyDistiller(population_size=40, generations=4, tournament_size=5, strategy=strategy,
                                      optimize_constants=2, soft_judges=None,
                                      random_state=3)
        est.fit(X, y)
        out[strategy] = {"programs": [to_tokens(p) for p in est.forest_.programs],
                         "best_fitness": [round(s["best_fitness"], 10) for s in est.run_details_]}
    return out


def finetuned_programs() -> dict:
    import torch

    from envs.config import EnvConfig
    from gplearn_custom.config import DEFAULT_FUNCTION_SET
    from gplearn_custom.language.features import FeatureSpec
    from gplearn_custom.language.forest import SymbolicForest
    from gplearn_custom.language.program import FUNCTIONS, to_tokens
    from gplearn_custom.rl.config import FinetuneConfig
    from gplearn_custom.rl.evolution import RewardEvolution
    from gplearn_custom.rl.lockstep import Lockstep
    from gplearn_custom.rl.ppo import ConstantTuner

    torch.set_num_threads(1)
    spec = FeatureSpec(("agent", "opponent", "ball"), (1, 1, 1), (64, 64), 3.0, agent_type=0)
    i = spec.names.index
    programs = [[0.2], [FUNCTIONS["neg"], i("ball[0].dy")], [i("ball[0].dy")]]
    actions = ["NOOP", "UP", "DOWN"]
    forest = SymbolicForest(programs, spec.names, actions, list(DEFAULT_FUNCTION_SET), spec, 20.0)
    cfg = FinetuneConfig(population_size=6, generations=3, episodes=2, max_episode_steps=150,
                         selection_episodes=2, selection_candidates=2, selection_max_steps=200,
                         fresh_share=0.3, fresh_pool=6, p_ppo=0.3, ppo_updates=1, polish_updates=2, n_envs=2,
                         n_steps=32,                          n_epochs=2, n_minibatches=2, objects="game")
    seeds = [1000, 1001, 1002]
    game = Lockstep(EnvConfig(), spec, None, cfg.population_size * cfg.episodes)
    tuner = ConstantTuner(cfg, Lockstep(EnvConfig(), spec, None, cfg.n_envs), None, seeds, seed=0)
    result = RewardEvolution(cfg, forest, game, tuner, seeds, seed=0).run()
    return {"programs": [to_tokens(p) for p in result.forest.programs],
            "scale": round(result.forest.scale, 8),
            "chosen": result.chosen,
            "best_return": [h["best_return"] for h in result.history]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="write the record instead of comparing with it")
    args = parser.parse_args()
    now = {"distill": distilled_programs(), "finetune": finetuned_programs()}
    if args.record:
        print(f"recorded -> {save('same_programs', now)}")
        return 0
    import json

    record = json.loads((RESULTS / "same_programs.json").read_text())
    differ = [k for k in now if json.loads(json.dumps(now[k])) != record[k]]
    print("same programs as the record" if not differ else f"programs differ from the record in: {differ}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
