"""Stage III ablation: full; no fresh forests; no PPO; no KL; reward only, over several seeds.

    .venv/bin/python bench/finetune.py --runs runs/pong_s0 runs/pong_s1 [--config configs/pong.yaml] \
        [--repeats 2] [key=value]
    .venv/bin/python bench/finetune.py     # no run: a hand-made Pong forest with a perturbed constant

Every variant starts from the same forest with the same seeds and the same evolution budget
(population, generations, episodes); PPO adds environment steps, which the table reports. Returns
are greedy, on the config's evaluation seeds (the test range), as in eval.json. With ``--runs`` each
run's distilled forest is a start, objects come from its perception, and its teacher supervises the
KL; each (run, repeat) is one seed of the ablation (the run's seed + 100 * repeat), and every figure
is a mean with a 95 % bootstrap interval over them (and the IQM from 5). Without runs there is no
teacher, so the variants that need one are left out. ``lineage`` counts where each output came
from: the distilled forest unchanged, changed from it, grown afresh or a mix.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections import Counter
from pathlib import Path

from benchlib import ROOT, over_runs, run_config, save, table  # noqa: I001  (puts the repository on sys.path)

from gplearn_custom.config import DEFAULT_FUNCTION_SET
from gplearn_custom.language.features import FeatureSpec
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import FUNCTIONS
from gplearn_custom.rl.config import FinetuneConfig
from pipeline.config import Config, load_config
from pipeline.finetune import Inputs, evaluate_forest, load_inputs, search


def perturbed_pong_forest() -> SymbolicForest:
    """Toward the ball, but NOOP unless the ball is more than 0.2 * 64 pixels away: loses most points."""
    spec = FeatureSpec(("agent", "opponent", "ball"), (1, 1, 1), (64, 64), 3.0, agent_type=0)
    dy = spec.names.index("ball[0].dy")
    programs = [[0.2], [FUNCTIONS["neg"], dy], [dy]]
    return SymbolicForest(programs, spec.names, ["NOOP", "UP", "DOWN"], list(DEFAULT_FUNCTION_SET), spec,
                          scale=20.0)


def variants(cfg: FinetuneConfig) -> dict[str, FinetuneConfig]:
    """The issue's five: each switches off one part of Stage III, the last all but the reward."""
    no_ppo = {"p_ppo": 0.0, "polish_updates": 0}
    no_kl = {"kl_coef_start": 0.0, "kl_coef_end": 0.0}
    return {
        "full": cfg,
        "no fresh forests": dataclasses.replace(cfg, fresh_share=0.0),
        "no PPO": dataclasses.replace(cfg, **no_ppo),
        "no KL": dataclasses.replace(cfg, **no_kl),
        "reward only": dataclasses.replace(cfg, fresh_share=0.0, **no_ppo, **no_kl),
    }


def starts(args: argparse.Namespace) -> list[tuple[Config, Inputs, str]]:
    """(config with the run's seed, inputs, label) per run; the hand-made forest without runs."""
    if not args.runs:
        config = load_config(args.config, args.overrides)
        config = dataclasses.replace(config, finetune=dataclasses.replace(config.finetune, objects="game"))
        return [(config, Inputs(perturbed_pong_forest(), None, None, None, None), "perturbed")]
    found = []
    for run in args.runs:
        config, folder = run_config(args.config, run, args.overrides)
        found.append((config, load_inputs(config, folder), Path(run).name))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "pong.yaml"))
    parser.add_argument("--runs", nargs="*", default=[], help="run folders with a finished distill stage")
    parser.add_argument("--repeats", type=int, default=1, help="search seeds per run (seed + 100 * k)")
    parser.add_argument("--name", default="finetune", help="results/<name>.json")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    records = []
    for config, inputs, label in starts(args):
        distilled = evaluate_forest(inputs.forest, inputs.perception, config)["return_mean"]
        for name, cfg in variants(config.finetune).items():
            if cfg.uses_teacher and inputs.teacher is None:
                print(f"{label} {name}: skipped (no finished teacher)")
                continue
            for repeat in range(args.repeats):
                variant = dataclasses.replace(config, seed=config.seed + 100 * repeat, finetune=cfg)
                started = time.perf_counter()
                supervised = inputs if cfg.uses_teacher else dataclasses.replace(inputs, teacher=None)
                result = search(variant, supervised, progress=False)
                seconds = time.perf_counter() - started
                evaluated = evaluate_forest(result.forest, inputs.perception, variant)
                records.append({"start": label, "variant": name, "seed": variant.seed,
                                "distilled": distilled, "return": evaluated["return_mean"],
                                "size": result.forest.size, "chosen": result.chosen,
                                "lineage": result.selection[result.chosen]["lineage"],
                                "ppo_updates": result.ppo_updates, "env_steps": result.env_steps,
                                "seconds": seconds})
                print(f"{label} {name} seed {variant.seed}: return {evaluated['return_mean']:.2f} "
                      f"(distilled {distilled:.2f}), {result.chosen}, {seconds:.0f} s", flush=True)
    rows = []
    for name in dict.fromkeys(r["variant"] for r in records):
        mine = [r for r in records if r["variant"] == name]
        stats = over_runs([r["return"] for r in mine])
        rows.append({"variant": name, "seeds": len(mine), "return": stats["mean"], "ci95": stats["ci95"],
                     "iqm": stats.get("iqm"), "gain": over_runs([r["return"] - r["distilled"] for r in mine]),
                     "size": sum(r["size"] for r in mine) / len(mine),
                     "lineage": dict(Counter(r["lineage"] for r in mine)),
                     "env_steps": sum(r["env_steps"] for r in mine) / len(mine),
                     "seconds": sum(r["seconds"] for r in mine) / len(mine)})
    distilled = over_runs([r["distilled"] for r in records if r["variant"] == records[0]["variant"]])
    shown = [{**r, "ci95": "[{:.2f}, {:.2f}]".format(*r["ci95"]), "gain": r["gain"]["mean"]} for r in rows]
    print(table(shown, ["variant", "seeds", "return", "ci95", "iqm", "gain", "size", "lineage", "env_steps",
                        "seconds"]))
    print(f"distilled start: {distilled['mean']:.3f} {distilled['ci95']}")
    command = "bench/finetune.py " + " ".join(
        [f"--config {args.config}"] + (["--runs", *args.runs] if args.runs else [])
        + [f"--repeats {args.repeats}", *args.overrides])
    saved = save(args.name, {"command": command, "distilled": distilled, "rows": rows, "records": records})
    print(f"results -> {saved}")


if __name__ == "__main__":
    main()
