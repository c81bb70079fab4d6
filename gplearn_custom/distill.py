"""Distillation as steps a script (or the DAgger loop, ``gplearn_custom/dagger.py``) can call:
prepare, distil, evaluate."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.config import check_ranges
from common.devices import check_n_jobs, cores
from common.errors import UserError
from gplearn_custom.baselines import decision_tree, mlp_student, random_forest, stock_gplearn
from gplearn_custom.config import DistillConfig, check_genetic
from gplearn_custom.data import DistillData, split
from gplearn_custom.evaluation import (
    STATE_WEIGHTS,
    agreement_measures,
    agreement_report,
    decisions_per_second,
    state_weights,
)
from gplearn_custom.genetic import STRATEGIES, SymbolicPolicyDistiller
from gplearn_custom.language.features import FeatureSpec
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import FUNCTIONS

Selector = Callable[[list[SymbolicForest]], np.ndarray]  # forests -> mean return of each in the game


@dataclass
class Prepared:
    """Features of every state, the splits, and the spec that made the features."""

    data: DistillData
    spec: FeatureSpec
    X: np.ndarray
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    fit: np.ndarray  # the training states the fitness is computed on

    def val_or_train(self) -> np.ndarray:
        return self.val if len(self.val) else self.train

    def test_or_train(self) -> np.ndarray:
        return self.test if len(self.test) else self.train


def check_config(cfg: DistillConfig) -> None:
    """Settings that would only fail deep inside evolution, reported up front."""
    unknown = [n for n in cfg.function_set if n not in FUNCTIONS]
    if unknown or not cfg.function_set:
        raise UserError(f"distill.function_set: unknown operator(s) {unknown}; valid: {sorted(FUNCTIONS)}")
    if cfg.strategy not in STRATEGIES:
        raise UserError(f"distill.strategy must be one of {', '.join(STRATEGIES)}, got '{cfg.strategy}'")
    if cfg.state_weights not in STATE_WEIGHTS:
        raise UserError(f"distill.state_weights must be one of {', '.join(STATE_WEIGHTS)}, "
                        f"got '{cfg.state_weights}'")
    if not 0 <= cfg.min_slot_share <= 1:
        raise UserError(f"distill.min_slot_share must be in [0, 1], got {cfg.min_slot_share}")
    fractions = (cfg.test_fraction, cfg.val_fraction)
    if not (all(0 <= f < 1 for f in fractions) and sum(fractions) < 1):
        raise UserError("distill.test_fraction and val_fraction must be in [0, 1) and sum below 1")
    check_n_jobs("distill.n_jobs", cfg.n_jobs, UserError)
    check_genetic("distill", cfg)
    check_ranges("distill", cfg, at_least_one=("coordinate_generations", "max_train_states", "optimize_steps",
                                                "max_slots", "speed_decisions", "select_max_steps",
                                                "restarts", "dagger_steps", "rounds_per_action"),
                 non_negative=("dagger_rounds", "select_episodes", "optimize_constants"),
                 positive=("temperature", "soft_judges"))


def prepare(data: DistillData, cfg: DistillConfig, seed: int) -> Prepared:
    """Split the dataset, fit the feature spec on the training states, build every feature row."""
    train, val, test = split(data, cfg.test_fraction, cfg.val_fraction, seed)
    spec = _fit_feature_spec(data, cfg, train)
    X = spec.transform(data.states)
    rng = np.random.default_rng(seed)
    fit = train if len(train) <= cfg.max_train_states else np.sort(
        rng.choice(train, cfg.max_train_states, replace=False))
    return Prepared(data, spec, X, train, val, test, fit)


def feature_spec(data: DistillData, cfg: DistillConfig, seed: int) -> FeatureSpec:
    """The spec ``prepare`` fits for this data, config and seed, without building any feature row
    (the reward stage reads states with the distillation's features)."""
    return _fit_feature_spec(data, cfg, split(data, cfg.test_fraction, cfg.val_fraction, seed)[0])


def _fit_feature_spec(data: DistillData, cfg: DistillConfig, train: np.ndarray) -> FeatureSpec:
    """Slots, scales and the agent's type from the training states (``distill.agent_type`` overrides)."""
    agent_type = data.agent_type
    if cfg.agent_type is not None:
        if cfg.agent_type not in data.type_names:
            raise UserError(f"distill.agent_type '{cfg.agent_type}' is not an object type of the dataset "
                            f"({', '.join(data.type_names)})")
        agent_type = data.type_names.index(cfg.agent_type)
    try:
        spec = FeatureSpec.fit([data.states[i] for i in train], data.type_names, data.image_size,
                               agent_type, cfg.slots, cfg.max_slots, cfg.velocity_scale, cfg.relative,
                               cfg.min_slot_share)
    except ValueError as exc:
        raise UserError(f"distill features: {exc}") from None
    return spec


def make_estimator(cfg: DistillConfig, seed: int, spec: FeatureSpec | None = None,
                   action_names: Sequence[str] | None = None, **overrides) -> SymbolicPolicyDistiller:
    """The estimator the config describes; ``overrides`` replace any of its arguments."""
    settings = dict(
        population_size=cfg.population_size, generations=cfg.generations,
        tournament_size=cfg.tournament_size, function_set=tuple(cfg.function_set),
        init_depth=tuple(cfg.init_depth), const_range=tuple(cfg.const_range),
        parsimony_coefficient=cfg.parsimony_coefficient, p_crossover=cfg.p_crossover,
        p_subtree_mutation=cfg.p_subtree_mutation, p_hoist_mutation=cfg.p_hoist_mutation,
        p_point_mutation=cfg.p_point_mutation, p_point_replace=cfg.p_point_replace,
        p_constant_mutation=cfg.p_constant_mutation, max_program_size=cfg.max_program_size,
        elitism=cfg.elitism, optimize_constants=cfg.optimize_constants, optimize_steps=cfg.optimize_steps,
        soft_judges=cfg.soft_judges,
        temperature=cfg.temperature, strategy=cfg.strategy,
        coordinate_generations=cfg.coordinate_generations, stopping_agreement=cfg.stopping_agreement,
        cache_mb=cfg.cache_mb, feature_names=None if spec is None else spec.names,
        action_names=action_names, feature_spec=spec, random_state=seed,
    )
    settings.update(overrides)
    return SymbolicPolicyDistiller(**settings)


def distil(prep: Prepared, cfg: DistillConfig, seed: int, checkpoint=None,
           log: Callable[[dict], None] | None = None, initial_forests: Sequence[SymbolicForest] = (),
           **overrides) -> SymbolicPolicyDistiller:
    """Evolve a forest on the fitness states; ``log`` gets each generation's statistics plus the
    best forest's validation agreement."""
    estimator = make_estimator(cfg, seed, prep.spec, prep.data.action_names, **overrides)

    def callback(stats: dict, est: SymbolicPolicyDistiller) -> None:
        if log is not None:
            log({**stats, "val_agreement": validation_agreement(est.current_best(), prep)})

    probs = prep.data.probs[prep.fit]
    estimator.fit(prep.X[prep.fit], probs, state_weights(probs, cfg.state_weights), checkpoint=checkpoint,
                  callback=callback, initial_forests=initial_forests)
    return estimator


def validation_agreement(forest: SymbolicForest, prep: Prepared) -> float:
    val = prep.val_or_train()
    return float(np.mean(forest.predict(prep.X[val]) == prep.data.actions[val]))


def distil_with_restarts(prep: Prepared, cfg: DistillConfig, seed: int, folder: Path,
                         log: Callable[[int], Callable[[dict], None] | None] | None = None,
                         select: Selector | None = None) -> tuple[SymbolicForest, dict]:
    """Up to ``cfg.restarts`` independent runs (seeds ``seed + 100003 * r``), stopping once one
    reaches ``cfg.restart_below`` validation agreement. A run that stalls in a local optimum shows
    it on validation, so a restart costs time only when it is needed. Each run checkpoints to
    ``folder/checkpoint[-rN].json``.

    With ``cfg.n_jobs`` cores, restarts run side by side in this process and worker processes (each
    with the cores left over as evaluation threads); the output is the same as one after another,
    since each run depends only on its seed and runs after the first that reaches ``restart_below``
    are dropped. A run's generations reach ``log`` when it ends.

    The winner is the best on validation agreement (then the smaller), or, given ``select``, the
    one that plays best: forests of equal agreement can differ by the whole range of the game's
    return, because the states where they differ are the few that decide points."""
    runs = []
    for r, run in enumerate(_restarts(prep, cfg, seed, folder, log)):
        runs.append({"restart": r, "seed": seed + 100_003 * r, **run})
        if run["val_agreement"] >= cfg.restart_below:
            break
    if select is None:
        best = max(runs, key=lambda run: (run["val_agreement"], -run["size"]))
    else:
        for run, played in zip(runs, select([run["forest"] for run in runs]), strict=True):
            run["selection_return"] = float(played)
        best = max(runs, key=lambda run: (run["selection_return"], run["val_agreement"], -run["size"]))
    summary = {"chosen_restart": best["restart"], "chosen_by": "agreement" if select is None else "return",
               "workers": _processes(cfg),
               "runs": [{k: v for k, v in run.items() if k != "forest"} for run in runs]}
    return best["forest"], summary


def _processes(cfg: DistillConfig) -> int:
    return max(1, min(cores(cfg.n_jobs), cfg.restarts))


def _restarts(prep: Prepared, cfg: DistillConfig, seed: int, folder: Path,
              log: Callable[[int], Callable[[dict], None] | None] | None) -> Iterator[dict]:
    """The restarts' results in order: one after another in this process with live logging, or on
    ``_processes(cfg)`` cores: this process and spawned workers (spawned, so that no thread state
    of the caller is copied), their logs replayed. This process takes each next restart that no
    worker has begun while it waits, so it works while the workers import the project (seconds)."""
    processes = _processes(cfg)
    threads = max(1, cores(cfg.n_jobs) // processes)
    names = ["checkpoint.json"] + [f"checkpoint-r{r}.json" for r in range(1, cfg.restarts)]
    jobs = [(prep, cfg, seed + 100_003 * r, folder / name, threads) for r, name in enumerate(names)]
    if processes == 1:
        for r, job in enumerate(jobs):
            yield _restart(*job, log=None if log is None else log(r))
        return
    done_here: dict[int, dict] = {}
    with ProcessPoolExecutor(processes - 1, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_restart, *job) for job in jobs]
        try:
            for r, future in enumerate(futures):
                while r not in done_here and not future.done():
                    # a cancelled future is one no worker has begun: this process runs it instead
                    waiting = (k for k in range(r, len(jobs)) if k not in done_here)
                    taken = next((k for k in waiting if futures[k].cancel()), None)
                    if taken is None:
                        break
                    done_here[taken] = _restart(*jobs[taken])
                run = done_here.pop(r) if r in done_here else future.result()
                logger = None if log is None else log(r)
                for stats in run.pop("logged"):
                    if logger is not None:
                        logger(stats)
                yield run
        finally:
            for future in futures:
                future.cancel()


def _restart(prep: Prepared, cfg: DistillConfig, seed: int, checkpoint: Path, threads: int,
             log: Callable[[dict], None] | None = None) -> dict:
    """One run and what the caller keeps of it; without ``log``, the logged generations are
    returned under ``logged`` (a worker process cannot write the caller's tensorboard)."""
    logged: list[dict] = []
    estimator = distil(prep, cfg, seed, checkpoint=checkpoint, log=log or logged.append, n_jobs=threads)
    forest = estimator.forest_
    run = {"forest": forest, "val_agreement": validation_agreement(forest, prep), "size": forest.size,
           "generations": len(estimator.run_details_), "evaluations": estimator.n_evaluations_,
           "evolution_seconds": sum(d["seconds"] for d in estimator.run_details_),
           "history": estimator.run_details_}
    return run if log is not None else {**run, "logged": logged}


def evaluate(forest: SymbolicForest, prep: Prepared, cfg: DistillConfig) -> dict:
    """Held-out agreement, sizes and speed of the policy alone (eval.json's ``symbolic``)."""
    test = prep.test_or_train()
    train = agreement_report(forest, prep.X[prep.train], prep.data.actions[prep.train])
    report = agreement_report(forest, prep.X[test], prep.data.actions[test], prep.data.probs[test])
    report.update(
        held_out="test" if len(prep.test) else "train (no test states)",
        train_agreement=train["agreement"],
        size_per_program=dict(zip(forest.action_names, forest.sizes, strict=True)),
        size=forest.size,
        scale=forest.scale,
        **decisions_per_second(forest, prep.X[test], [prep.data.states[i] for i in test],
                               cfg.speed_decisions),
    )
    return report


def run_baselines(prep: Prepared, cfg: DistillConfig, seed: int, forest: SymbolicForest, budget: int) -> dict:
    """Other students on the same fitness states, scored on the same test states with the same
    measures: stock gplearn at the method's budget of ``budget`` scored programs (unless
    ``baseline_generations`` is set), a decision tree with as many nodes as ``forest`` (VIPER's kind
    of policy), a random forest (a ceiling), an MLP, and the majority action."""
    test = prep.test_or_train()
    X, X_test = prep.X[prep.fit], prep.X[test]
    actions, actions_test = prep.data.actions[prep.fit], prep.data.actions[test]
    generations = cfg.baseline_generations or max(1, -(-budget // cfg.baseline_population))
    started = time.perf_counter()
    rows = {
        "stock_gplearn": stock_gplearn(X, actions, X_test, len(prep.data.action_names),
                                       cfg.baseline_population, generations, seed),
        "decision_tree": decision_tree(X, actions, X_test, forest.size, seed),
        "random_forest": random_forest(X, actions, X_test, seed),
        "mlp_student": mlp_student(X, prep.data.probs[prep.fit], X_test, cfg.temperature, cfg.mlp_hidden,
                                   cfg.mlp_epochs, seed),
        "majority_action": {"method": "the most frequent teacher action",
                            "predicted": np.full(len(test), np.bincount(actions).argmax())},
    }
    for row in rows.values():
        row.update(agreement_measures(row.pop("predicted"), actions_test, prep.data.probs[test]))
    return {**rows, "method_budget": budget, "seconds": time.perf_counter() - started}
