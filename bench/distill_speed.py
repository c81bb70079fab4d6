"""Speed of Stage II-C on the scripted built-in Pong dataset; prints what it measured.

1. Fitness evaluations per second: stock gplearn (``SymbolicRegressor``, one program, MAE) against
   gplearn_custom (``SymbolicPolicyDistiller``, a forest of one program per action, distillation
   loss), same states, same population and generations: whole-run throughput, and the raw
   evaluation of the same random programs with and without the subtree cache.
2. Decisions per second of the symbolic policy at batch 1: compiled to plain Python, through
   numpy, from objects, and the exported standalone ``policy.py``; and their ratio to the teacher
   CNN's batch-1 forward pass (target 1000x).
3. ``--strategies``: held-out agreement and time of the joint and coordinate strategies over seeds.

    .venv/bin/python bench/distill_speed.py [--strategies]

Timings on a shared 2-core machine are noisy; compare ratios measured in one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from gplearn._program import _Program
from gplearn.fitness import _fitness_map
from gplearn.functions import _Function, _function_map
from gplearn.genetic import SymbolicRegressor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import save  # noqa: E402

from gplearn_custom.config import DistillConfig  # noqa: E402
from gplearn_custom.distill import make_estimator  # noqa: E402
from gplearn_custom.fitness import DistillationLoss, soften  # noqa: E402
from gplearn_custom.genetic import SymbolicPolicyDistiller  # noqa: E402
from gplearn_custom.language.export import export_forest  # noqa: E402
from gplearn_custom.language.features import FeatureSpec  # noqa: E402
from gplearn_custom.language.program import ProgramEvaluator, ProgramSettings, function_set  # noqa: E402
from gplearn_custom.language.scalar import compile_forest  # noqa: E402
from gplearn_custom.language.variation import Variation  # noqa: E402
from see.synthetic import scripted_pong_dataset  # noqa: E402

STOCK_FUNCTIONS = ("add", "sub", "mul", "div", "neg", "abs", "max", "min")


def pong_data(episodes: int, seed: int):
    entries, meta = scripted_pong_dataset(episodes, seed)
    states = [e["state"] for e in entries]
    episode = np.array([e["episode"] for e in entries])
    train = episode < int(0.8 * episodes)
    spec = FeatureSpec.fit([s for s, t in zip(states, train, strict=True) if t], meta["object_types"],
                           meta["image_size"], agent_type=0)
    probs = np.array([e["teacher_probs"] for e in entries])
    return spec, states, spec.transform(states), probs, train


def throughput(X, probs, spec, population: int, generations: int, seed: int) -> None:
    """Individuals evaluated per CPU second (single-threaded code; CPU time is steadier than wall
    time on a shared machine)."""
    actions = probs.argmax(1)
    start = time.process_time()
    SymbolicRegressor(population_size=population, generations=generations, metric="mean absolute error",
                      function_set=STOCK_FUNCTIONS, random_state=seed, n_jobs=1).fit(X, actions.astype(float))
    stock = population * generations / (time.process_time() - start)
    print(f"whole run, {len(X)} states, population {population}, {generations} generations, per CPU second:")
    print(f"  stock gplearn SymbolicRegressor (1 program, MAE): {stock:8.0f} programs evaluated/s")
    for cache_mb in (256, 0):
        start = time.process_time()
        est = SymbolicPolicyDistiller(population_size=population, generations=generations, random_state=seed,
                                      stopping_agreement=1.1, cache_mb=cache_mb, feature_names=spec.names)
        est.fit(X, probs)
        seconds = time.process_time() - start
        custom = population * generations / seconds
        print(f"  gplearn_custom, forest of {probs.shape[1]}, cache {cache_mb:3d} MB: {custom:8.0f} forests "
              f"evaluated/s ({est.n_evaluations_ / seconds:.0f}/s computed, the rest found in the memo); "
              f"ratio custom/stock {custom / stock:.2f}")


def raw_evaluation(X, probs, n_programs: int, seed: int) -> None:
    """The same random programs through gplearn's raw_fitness (with its own functions) and through
    the custom evaluator (with the clipped operators of gplearn_custom.language.operators)."""
    settings = ProgramSettings(function_set(STOCK_FUNCTIONS), X.shape[1])
    rng = np.random.RandomState(seed)
    programs = [Variation(settings).grow(rng) for _ in range(n_programs)]
    stock_programs = [_Program(**{**vars_for_stock(settings), "program": [
        _function_map[n.name] if isinstance(n, _Function) else n for n in p]}) for p in programs]
    y, weights = probs.argmax(1).astype(float), np.ones(len(X))
    start = time.process_time()
    with np.errstate(all="ignore"):
        for p in stock_programs:
            p.raw_fitness(X, y, weights)
    stock = n_programs / (time.process_time() - start)
    loss = DistillationLoss(soften(probs, 0.3), probs.argmax(1))
    rates = {}
    for cache_mb in (0, 256):
        evaluator = ProgramEvaluator(X, cache_mb)
        start = time.process_time()
        for i in range(0, n_programs - 2, 3):  # forests of three programs
            loss([evaluator(p) for p in programs[i:i + 3]])
        rates[cache_mb] = n_programs / (time.process_time() - start)
    print(f"raw evaluation of {n_programs} random programs on {len(X)} states (programs per CPU second):")
    print(f"  stock gplearn _Program.raw_fitness (MAE):          {stock:8.0f}")
    print(f"  custom evaluator + distillation loss, no cache:   {rates[0]:8.0f}")
    print(f"  custom evaluator + distillation loss, cache:      {rates[256]:8.0f} "
          "(cold cache: random programs share few subtrees; evolution's children share many)")


def vars_for_stock(settings: ProgramSettings) -> dict:
    """gplearn ``_Program`` arguments of a run's programs, with gplearn's MAE as its metric."""
    return dict(function_set=[_function_map[n] for n in STOCK_FUNCTIONS], arities=settings.arities,
                init_depth=(2, 4), init_method="half and half", n_features=settings.n_features,
                const_range=settings.const_range, metric=_fitness_map["mean absolute error"],
                p_point_replace=0.05, parsimony_coefficient=0.0, random_state=None)


def cnn_decisions_per_second(n: int = 300) -> float:
    """Batch-1 forward passes per second of the default teacher's network (CompactCNN + heads),
    with the observation already a tensor: the network alone, as the policy alone is timed."""
    import torch
    from stable_baselines3 import PPO

    from envs import make_vec_env
    from envs.config import EnvConfig
    from teacher.cnn import CompactCNN

    torch.set_num_threads(1)
    venv = make_vec_env(EnvConfig(), n_envs=1, seed=0, train=False)
    model = PPO("CnnPolicy", venv, device="cpu", policy_kwargs={
        "features_extractor_class": CompactCNN, "features_extractor_kwargs": {"features_dim": 128}})
    obs = torch.as_tensor(venv.reset()).float()
    venv.close()
    with torch.no_grad():
        start = time.perf_counter()
        for _ in range(n):
            model.policy.get_distribution(obs).distribution.probs.argmax()
    return n / (time.perf_counter() - start)


def decision_speed(spec, states, X, probs, seed: int, n: int = 3000) -> dict:
    est = SymbolicPolicyDistiller(population_size=500, generations=20, random_state=seed, temperature=0.3,
                                  feature_names=spec.names, action_names=["NOOP", "UP", "DOWN"],
                                  feature_spec=spec).fit(X, probs)
    forest = est.forest_
    rows, picked = [X[i % len(X)] for i in range(n)], [states[i % len(states)] for i in range(n)]
    with tempfile.TemporaryDirectory() as folder:
        export_forest(forest, folder)
        module_spec = importlib.util.spec_from_file_location("policy", Path(folder) / "policy.py")
        policy = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(policy)
    decide, vectors = compile_forest(forest), [r.tolist() for r in rows]
    timings = {
        "compiled forest decide(features)": lambda: [decide(v) for v in vectors],
        "SymbolicForest.predict(features)": lambda: [forest.predict(r) for r in rows],
        "SymbolicForest.act_objects(objects)": lambda: [forest.act_objects([s]) for s in picked],
        "policy.py act(features)": lambda: [policy.act(r) for r in rows],
        "policy.py act_objects(objects)": lambda: [policy.act_objects(s) for s in picked],
    }
    print(f"symbolic policy at batch 1 (sizes {forest.sizes}), decisions/s:")
    rates = {}
    for name, run in timings.items():
        start = time.perf_counter()
        run()
        rates[name] = n / (time.perf_counter() - start)
        print(f"  {name:38s} {rates[name]:8.0f}")
    cnn = cnn_decisions_per_second()
    ratio = rates["compiled forest decide(features)"] / cnn
    print(f"  {'teacher CNN forward pass (batch 1)':38s} {cnn:8.0f}")
    print(f"  symbolic (compiled) / CNN decisions per second: {ratio:.0f}x (target 1000x); "
          f"numpy path {rates['SymbolicForest.predict(features)'] / cnn:.1f}x")
    return {"symbolic": rates, "cnn_decisions_per_second": cnn, "symbolic_over_cnn": ratio}


def strategies(spec, X, probs, train, seeds: int, population: int, generations: int) -> None:
    test = ~train
    print(f"strategies, default config, population {population}, up to {generations} generations, "
          f"seeds 0..{seeds - 1}:")
    for strategy in ("joint", "coordinate"):
        agreements, times, to_95 = [], [], []
        for seed in range(seeds):
            start = time.process_time()
            est = make_estimator(DistillConfig(), seed, spec, population_size=population,
                                 generations=generations, strategy=strategy)
            est.fit(X[train], probs[train])
            times.append(time.process_time() - start)
            agreements.append(np.mean(est.predict(X[test]) == probs[test].argmax(1)))
            elapsed = np.cumsum([d["seconds"] for d in est.run_details_]) * times[-1] / sum(
                d["seconds"] for d in est.run_details_)  # wall time per generation, scaled to CPU time
            reached = [t for d, t in zip(est.run_details_, elapsed, strict=True)
                       if d["best_agreement"] >= 0.95]
            to_95.append(reached[0] if reached else np.inf)
        print(f"  {strategy:10s} held-out agreement median {np.median(agreements):.3f} "
              f"min {np.min(agreements):.3f}, >= 0.9 in {np.sum(np.array(agreements) >= 0.9)}/{seeds}; "
              f"CPU seconds median {np.median(times):.1f}; "
              f"reached 95% train agreement in {sum(np.isfinite(to_95))}/{seeds} runs, "
              f"median {np.median(to_95):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--population", type=int, default=1000)
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", action="store_true", help="compare joint and coordinate evolution")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    spec, states, X, probs, train = pong_data(args.episodes, args.seed)
    throughput(X[train], probs[train], spec, args.population, args.generations, args.seed)
    raw_evaluation(X[train], probs[train], 3000, args.seed)
    speeds = decision_speed(spec, states, X[train], probs[train], args.seed)
    print(f"results -> {save('distill_speed', {'decisions': speeds})}")
    if args.strategies:
        strategies(spec, X, probs, train, args.seeds, args.population, 40)


if __name__ == "__main__":
    main()
