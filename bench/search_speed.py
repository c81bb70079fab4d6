"""Speed of the symbolic search, side by side in one run: stock gplearn, the engine before, the engine now.

    .venv/bin/python bench/search_speed.py [--before COMMIT] [--population 1000] [--generations 20]

The engine before runs from a temporary git worktree of ``--before`` (default: the commit before
the batched loss), through the same worker code as the engine now, on the same data:

1. Throughput: stock gplearn's ``SymbolicRegressor`` (one program, MAE on the action index) against
   ``SymbolicPolicyDistiller`` (a forest of one program per action, distillation loss; the joint and
   the coordinate strategy), the same states, population and generations: programs or forests
   scored per CPU second, and wall time.
2. The default built-in distillation: ``configs/pong.yaml``'s distill section on the same states,
   every restart run (as with the real teacher, which never reaches ``restart_below``): wall and CPU
   seconds (worker processes included) before and now, and whether the output programs are equal.
3. The ideas, measured alone on the engine now: the subtree cache, and the batched loss against one
   forest at a time.

The states are the scripted built-in Pong dataset (``see.synthetic``), so the numbers do not depend
on a trained teacher. Timings on a shared 2-core machine are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, run_in, save, table, worktree

BEFORE = "973f8e4"  # the engine before the batched loss and the parallel restarts
STOCK_FUNCTIONS = ("add", "sub", "mul", "div", "neg", "abs", "max", "min")


def states(episodes: int = 20, seed: int = 0, limit: int = 5000):
    """Features and teacher distributions of the scripted built-in Pong dataset."""
    import numpy as np

    from gplearn_custom.language.features import FeatureSpec
    from see.synthetic import scripted_pong_dataset

    entries, meta = scripted_pong_dataset(episodes, seed)
    picked = [e["state"] for e in entries]
    spec = FeatureSpec.fit(picked, meta["object_types"], meta["image_size"], agent_type=0)
    probs = np.array([e["teacher_probs"] for e in entries])
    return spec, spec.transform(picked)[:limit], probs[:limit], (entries, meta)


def cpu_seconds() -> float:
    """This process's and its finished children's CPU time (the restarts' worker processes)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def worker(task: str, population: int, generations: int) -> dict:
    """One measurement with whichever engine is first on ``sys.path``."""
    from gplearn_custom.language.program import to_tokens

    spec, X, probs, dataset = states()
    if task.startswith("throughput"):
        from gplearn_custom.genetic import SymbolicPolicyDistiller

        est = SymbolicPolicyDistiller(population_size=population, generations=generations, random_state=0,
                                      stopping_agreement=1.1, feature_names=spec.names,
                                      strategy=task.split(":")[1])
        cpu, wall = cpu_seconds(), time.perf_counter()
        est.fit(X, probs)
        programs = [to_tokens(p) for p in est.forest_.programs]
        return {"cpu_seconds": cpu_seconds() - cpu, "wall_seconds": time.perf_counter() - wall,
                "scored": population * generations, "computed": est.n_evaluations_, "programs": programs}
    import dataclasses

    import yaml

    from gplearn_custom.config import DistillConfig
    from gplearn_custom.data import load_dataset
    from gplearn_custom.distill import distil_with_restarts, prepare
    from see.synthetic import save_dataset

    section = yaml.safe_load((ROOT / "configs" / "pong.yaml").read_text())["distill"]
    known = {f.name for f in dataclasses.fields(DistillConfig)}
    cfg = DistillConfig(**{k: v for k, v in section.items() if k in known}, restart_below=1.01)
    with tempfile.TemporaryDirectory() as folder:
        save_dataset(Path(folder), *dataset)
        prep = prepare(load_dataset(Path(folder)), cfg, 0)
        cpu, wall = cpu_seconds(), time.perf_counter()
        forest, summary = distil_with_restarts(prep, cfg, 0, Path(folder))
        return {"cpu_seconds": cpu_seconds() - cpu, "wall_seconds": time.perf_counter() - wall,
                "restarts": len(summary["runs"]), "n_jobs": getattr(cfg, "n_jobs", 1),
                "computed": sum(run["evaluations"] for run in summary["runs"]),
                "programs": [to_tokens(p) for p in forest.programs]}


def stock(population: int, generations: int) -> dict:
    from gplearn.genetic import SymbolicRegressor

    _, X, probs, _ = states()
    cpu, wall = cpu_seconds(), time.perf_counter()
    SymbolicRegressor(population_size=population, generations=generations, metric="mean absolute error",
                      function_set=STOCK_FUNCTIONS, random_state=0, n_jobs=1).fit(
        X, probs.argmax(1).astype(float))
    return {"cpu_seconds": cpu_seconds() - cpu, "wall_seconds": time.perf_counter() - wall,
            "scored": population * generations}


def ideas(n_forests: int = 3000, n_children: int = 20000) -> dict:
    """Each idea alone, on the engine now: random forests of three programs scored with and without
    the subtree cache, by the batched loss against one forest per call and at two block sizes; and
    children bred by gplearn's own operators on a ``RandomState`` against ``Variation`` on
    ``BufferedDraws`` (the same children, checked)."""
    import numpy as np
    from gplearn._program import _Program

    from gplearn_custom.config import DEFAULT_FUNCTION_SET
    from gplearn_custom.draws import BufferedDraws
    from gplearn_custom.fitness import DistillationLoss, soften
    from gplearn_custom.language.program import ProgramEvaluator, ProgramSettings, cache_key, function_set
    from gplearn_custom.language.variation import Variation

    _, X, probs, _ = states()
    rng = np.random.RandomState(0)
    settings = ProgramSettings(function_set(DEFAULT_FUNCTION_SET), X.shape[1])
    variation = Variation(settings)
    parents = [variation.grow(rng) for _ in range(300)]
    # children as evolution makes them: one subtree mutation of a parent, so subtrees repeat
    programs = [variation.subtree_mutation(parents[i % 300], rng) for i in range(3 * n_forests)]
    out = {}
    for cache_mb in (0, 256):
        evaluator = ProgramEvaluator(X, cache_mb)
        start = time.process_time()
        outputs = [evaluator(p) for p in programs]
        out[f"programs_per_cpu_second_cache_{cache_mb}mb"] = len(programs) / (time.process_time() - start)
    forests = [outputs[i:i + 3] for i in range(0, len(outputs), 3)]
    loss = DistillationLoss(soften(probs, 0.3), probs.argmax(1))
    start = time.process_time()
    one = [loss(f) for f in forests]
    out["loss_forests_per_cpu_second_one_at_a_time"] = len(forests) / (time.process_time() - start)
    for block_bytes in (2**23, 2**21):  # the engine before's block, and now's (fits the 1 MB L2 cache)
        loss = DistillationLoss(soften(probs, 0.3), probs.argmax(1), block_bytes=block_bytes)
        start = time.process_time()
        batched = loss.many(forests)
        out[f"loss_forests_per_cpu_second_batched_{block_bytes >> 20}mb"] = len(forests) / (
            time.process_time() - start)
        out[f"batched_{block_bytes >> 20}mb_equals_one_at_a_time"] = one == batched

    operators = ("crossover", "subtree_mutation", "hoist_mutation", "point_mutation")  # both name them so

    def gplearn_child(parent, donor, operator, draws):
        program = _Program(settings.function_set, settings.arities, settings.init_depth, settings.init_method,
                           settings.n_features, settings.const_range, None, settings.p_point_replace, 0.0,
                           None, program=parent)
        return getattr(program, operator)(*([donor] if operator == "crossover" else []), draws)[0]

    def variation_child(parent, donor, operator, draws):
        return getattr(variation, operator)(parent, *([donor] if operator == "crossover" else []), draws)

    children = {}
    for name, make, wrap in (("gplearn_operators", gplearn_child, lambda r: r),
                             ("variation_buffered_draws", variation_child, BufferedDraws)):
        draws = wrap(np.random.RandomState(1))
        start = time.process_time()
        made = []
        for _ in range(n_children):  # gplearn's operator mix: crossover 0.7, the mutations 0.1, 0.05, 0.1
            pick = draws.randint(0, len(parents), 2)
            operator = operators[int(np.searchsorted([0.7, 0.8, 0.85, 1.0], draws.uniform(), side="right"))]
            made.append(make(parents[pick[0]], parents[pick[1]], operator, draws))
        out[f"children_per_cpu_second_{name}"] = n_children / (time.process_time() - start)
        children[name] = [cache_key(c) for c in made]
    out["same_children"] = children["gplearn_operators"] == children["variation_buffered_draws"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help="commit of the engine before (default %(default)s)")
    parser.add_argument("--population", type=int, default=1000)
    parser.add_argument("--generations", type=int, default=20)
    args = parser.parse_args()
    with worktree(args.before) as before:
        rows = {"stock gplearn": stock(args.population, args.generations)}
        for strategy in ("joint", "coordinate"):
            for name, root in (("engine before", before), ("engine now", ROOT)):
                task = f"throughput:{strategy}"
                rows[f"{name}, {strategy}"] = run_in(root, "search_speed", "gplearn_custom", task,
                                                     args.population, args.generations)
        default = {name: run_in(root, "search_speed", "gplearn_custom", "default", 0, 0) for name, root in
                   (("engine before", before), ("engine now", ROOT))}
    for row in rows.values():
        row["scored_per_cpu_second"] = row["scored"] / row["cpu_seconds"]
        row["over_stock"] = row["scored_per_cpu_second"] / (rows["stock gplearn"]["scored"]
                                                              / rows["stock gplearn"]["cpu_seconds"])
    print(f"throughput, {args.population} x {args.generations} generations on 5000 states:")
    print(table([{"engine": k, **v} for k, v in rows.items()],
                ["engine", "scored_per_cpu_second", "over_stock", "cpu_seconds", "wall_seconds", "computed"]))
    same = default["engine before"]["programs"] == default["engine now"]["programs"]
    print("\nthe default built-in distillation (configs/pong.yaml, every restart):")
    print(table([{"engine": k, **v} for k, v in default.items()],
                ["engine", "wall_seconds", "cpu_seconds", "restarts", "n_jobs", "computed"]))
    print(f"same output programs: {same}; wall time now / before: "
          f"{default['engine now']['wall_seconds'] / default['engine before']['wall_seconds']:.2f}")
    measured = ideas()
    print("\nideas alone:", json.dumps(measured, indent=1))
    path = save("search_speed", {"before": args.before, "population": args.population,
                                 "generations": args.generations, "throughput": rows,
                                 "default_distillation": {**default, "same_programs": same},
                                 "ideas": measured})
    print(f"results -> {path}")


if __name__ == "__main__":
    main()
