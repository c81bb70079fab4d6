"""Stage III ablation: reward fitness only, + PPO on constants, + soft expert supervision.

    .venv/bin/python bench/finetune.py --run runs/pong [--config configs/pong.yaml] [--repeats 3] [key=value]
    .venv/bin/python bench/finetune.py     # no run: a hand-made Pong forest with a perturbed constant

Every variant starts from the same forest with the same seeds and the same evolution budget
(population, generations, episodes); PPO adds environment steps, which the table reports. Returns
are greedy, on the config's evaluation seeds, as in eval.json. With ``--run`` the forest is the run's
distilled one, objects come from its perception, and the teacher (if finished) supervises the last
variant; without it there is no teacher, so that row is left out.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
from benchlib import ROOT, save, table  # noqa: I001  (puts the repository on sys.path)

from common.runs import RunFolder
from gplearn_custom.config import DEFAULT_FUNCTION_SET
from gplearn_custom.language.features import FeatureSpec
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import FUNCTIONS
from gplearn_custom.rl.config import FinetuneConfig
from pipeline.config import load_config
from pipeline.finetune import Inputs, evaluate_forest, load_inputs, search, teacher_return
from teacher.agent import TeacherAgent


def perturbed_pong_forest() -> SymbolicForest:
    """Toward the ball, but NOOP unless the ball is more than 0.2 * 64 pixels away: loses most points."""
    spec = FeatureSpec(("agent", "opponent", "ball"), (1, 1, 1), (64, 64), 3.0, agent_type=0)
    dy = spec.names.index("ball[0].dy")
    programs = [[0.2], [FUNCTIONS["neg"], dy], [dy]]
    return SymbolicForest(programs, spec.names, ["NOOP", "UP", "DOWN"], list(DEFAULT_FUNCTION_SET), spec,
                          scale=20.0)


def variants(cfg: FinetuneConfig) -> dict[str, FinetuneConfig]:
    off = {"kl_coef_start": 0.0, "kl_coef_end": 0.0}
    expert = {} if cfg.uses_teacher else {"kl_coef_start": FinetuneConfig.kl_coef_start}
    return {
        "reward fitness only": dataclasses.replace(cfg, p_ppo=0.0, polish_updates=0, **off),
        "+ constants (PPO)": dataclasses.replace(cfg, **off),
        "+ expert supervision (KL)": dataclasses.replace(cfg, **expert),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--config", default=str(ROOT / "configs" / "pong.yaml"))
    parser.add_argument("--run", default=None, help="run folder with a finished distill stage")
    parser.add_argument("--repeats", type=int, default=1, help="seeds per variant (seed, seed+1, ...)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    config = load_config(args.config, args.overrides)
    if args.run:
        run = RunFolder(args.run).open(config.env.id, create=False)
        inputs = load_inputs(dataclasses.replace(config, finetune=dataclasses.replace(
            config.finetune, kl_coef_start=0.0, kl_coef_end=0.0)), run)
        teacher_dir = inputs.teacher_dir
    else:
        config = dataclasses.replace(config, finetune=dataclasses.replace(config.finetune, objects="game"))
        inputs, teacher_dir = Inputs(perturbed_pong_forest(), None, None, None, None), None
    teacher = TeacherAgent.load(teacher_dir, config.env.frame_stack) if teacher_dir else None
    distilled = evaluate_forest(inputs.forest, inputs.perception, config)
    teacher_row = teacher_return(config, teacher_dir)
    rows = [{"variant": "distilled (start)", "return": distilled["return_mean"],
             "return_std": distilled["return_std"], "size": distilled["size"]}]
    for name, cfg in variants(config.finetune).items():
        if cfg.uses_teacher and teacher is None:
            print(f"{name}: skipped (no finished teacher)")
            continue
        runs = []
        for repeat in range(args.repeats):
            variant = dataclasses.replace(config, seed=config.seed + repeat, finetune=cfg)
            started = time.perf_counter()
            supervised = dataclasses.replace(inputs, teacher=teacher if cfg.uses_teacher else None)
            result = search(variant, supervised, progress=False)
            seconds = time.perf_counter() - started
            evaluated = evaluate_forest(result.forest, inputs.perception, variant)
            runs.append({"return": evaluated["return_mean"], "size": result.forest.size,
                         "chosen": result.chosen, "ppo_updates": result.ppo_updates,
                         "env_steps": result.env_steps, "seconds": seconds})
        rows.append({"variant": name, **{k: float(np.mean([r[k] for r in runs])) for k in
                                          ("return", "size", "ppo_updates", "env_steps", "seconds")},
                     "return_std": float(np.std([r["return"] for r in runs])) if args.repeats > 1 else "",
                     "chosen": "/".join(r["chosen"] for r in runs)})
    if teacher_row is not None:
        rows.append({"variant": "teacher (CNN)", "return": teacher_row["return_mean"],
                     "return_std": teacher_row["return_std"]})
    start = f"run {args.run}" if args.run else "hand-made perturbed forest"
    print(f"{config.env.id}, {len(config.evaluation.seeds)} evaluation seeds, "
          f"{args.repeats} seed(s) per variant, start: {start}")
    columns = ["variant", "return", "return_std", "size", "chosen", "ppo_updates", "env_steps", "seconds"]
    print(table(rows, columns))
    print("(return_std: across evaluation seeds for single agents, across repeats for variants; "
          "seconds are wall time of the search on a shared machine, noisy)")
    name = f"finetune-{Path(args.run).name}" if args.run else "finetune-perturbed"
    print(f"results -> {save(name, {'run': args.run, 'repeats': args.repeats, 'rows': rows})}")


if __name__ == "__main__":
    main()
