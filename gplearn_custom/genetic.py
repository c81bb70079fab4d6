"""Evolving a forest of programs that imitates a teacher: ``SymbolicPolicyDistiller``.

An individual is a whole forest, one program per action, judged together because softmax
couples the logits. A child copies its parent's forest and changes one program with gplearn's
own operators (crossover with the donor's program for the same action, subtree, hoist or point
mutation); the unchanged programs keep their cached outputs, so a child costs one program's
evaluation plus the loss. Two ways to pick the program a child changes:

- ``strategy="joint"``: a random action per child; every forest evolves all its programs.
- ``strategy="coordinate"``: one action per round of ``coordinate_generations`` generations, in
  turn; at the start of a round every forest takes the current best forest's other programs, so
  the population competes on one program against a shared, fixed context.

Each generation the ``optimize_constants`` best forests get their constants tuned by gradient
(``gplearn_custom.constants``), a memetic step: evolution finds shapes, L-BFGS their numbers.
Fitness is the distillation cross-entropy plus ``parsimony_coefficient`` times the total number
of nodes; a child whose changed program exceeds ``max_program_size`` nodes is replaced by its
parent (Koza's size limit). Evolution is reproducible from ``random_state`` and, with a
``checkpoint`` path, saved atomically after every generation and resumed from there: a resumed
run ends exactly where an uninterrupted one does.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gplearn.utils import check_random_state
from sklearn.base import BaseEstimator

from common.io import read_json, write_json
from gplearn_custom.config import DEFAULT_FUNCTION_SET
from gplearn_custom.constants import ConstantOptimizer
from gplearn_custom.fitness import DistillationLoss, Score, soften
from gplearn_custom.forest import SymbolicForest
from gplearn_custom.program import (
    PolicyProgram,
    ProgramEvaluator,
    ProgramSettings,
    from_tokens,
    function_set,
    to_tokens,
)
from see.features import FeatureSpec

STRATEGIES = ("joint", "coordinate")


@dataclass
class Member:
    """One forest of the population with its cached program outputs and its fitness."""

    programs: list[PolicyProgram]
    outputs: list[np.ndarray | None]
    loss: float = float("nan")
    scale: float = 1.0
    agreement: float = float("nan")
    fitness: float = float("nan")

    @property
    def key(self) -> tuple:
        return tuple(p.key for p in self.programs)

    @property
    def size(self) -> int:
        return sum(len(p.program) for p in self.programs)

    def replaced(self, action: int, program: PolicyProgram) -> Member:
        programs, outputs = list(self.programs), list(self.outputs)
        programs[action], outputs[action] = program, None
        return Member(programs, outputs)


class SymbolicPolicyDistiller(BaseEstimator):
    """A gplearn-style estimator: ``fit(X, teacher_probs)`` evolves a forest, ``predict`` acts.

    ``y`` is the teacher's action distribution (n_states, n_actions) or its actions (n_states,),
    taken as one-hot. After ``fit``: ``forest_`` (the best forest), ``run_details_`` (per
    generation statistics, as gplearn's), ``n_evaluations_`` (forests evaluated).
    """

    def __init__(
        self,
        *,
        population_size: int = 500,
        generations: int = 30,
        tournament_size: int = 20,
        function_set: Sequence[str] = DEFAULT_FUNCTION_SET,
        init_depth: tuple[int, int] = (2, 4),
        init_method: str = "half and half",
        const_range: tuple[float, float] | None = (-1.0, 1.0),
        parsimony_coefficient: float = 0.002,
        p_crossover: float = 0.7,
        p_subtree_mutation: float = 0.1,
        p_hoist_mutation: float = 0.05,
        p_point_mutation: float = 0.1,
        p_point_replace: float = 0.05,
        p_constant_mutation: float = 0.0,
        max_program_size: int = 30,
        elitism: int = 1,
        optimize_constants: int = 1,
        optimize_steps: int = 20,
        temperature: float = 1.0,
        strategy: str = "joint",
        coordinate_generations: int = 2,
        stopping_agreement: float = 1.0,
        cache_mb: float = 256.0,
        feature_names: Sequence[str] | None = None,
        action_names: Sequence[str] | None = None,
        feature_spec: FeatureSpec | None = None,
        random_state: int | None = None,
        verbose: int = 0,
    ):
        self.population_size = population_size
        self.generations = generations
        self.tournament_size = tournament_size
        self.function_set = function_set
        self.init_depth = init_depth
        self.init_method = init_method
        self.const_range = const_range
        self.parsimony_coefficient = parsimony_coefficient
        self.p_crossover = p_crossover
        self.p_subtree_mutation = p_subtree_mutation
        self.p_hoist_mutation = p_hoist_mutation
        self.p_point_mutation = p_point_mutation
        self.p_point_replace = p_point_replace
        self.p_constant_mutation = p_constant_mutation
        self.max_program_size = max_program_size
        self.elitism = elitism
        self.optimize_constants = optimize_constants
        self.optimize_steps = optimize_steps
        self.temperature = temperature
        self.strategy = strategy
        self.coordinate_generations = coordinate_generations
        self.stopping_agreement = stopping_agreement
        self.cache_mb = cache_mb
        self.feature_names = feature_names
        self.action_names = action_names
        self.feature_spec = feature_spec
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------------------- public API

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        *,
        checkpoint: str | Path | None = None,
        callback: Callable[[dict, SymbolicPolicyDistiller], None] | None = None,
        initial_forests: Sequence[SymbolicForest] = (),
    ) -> SymbolicPolicyDistiller:
        """Evolve; ``checkpoint`` is resumed if it exists and rewritten every generation;
        ``callback(stats, self)`` runs after each generation; ``initial_forests`` seed the first
        population (warm start, e.g. the previous round of DAgger)."""
        X, probs = self._check_data(X, y)
        self._check_params()
        target = soften(probs, self.temperature)
        self._loss = DistillationLoss(target, np.argmax(probs, axis=1), sample_weight)
        self._optimizer = ConstantOptimizer(X, target, sample_weight, self.optimize_steps)
        self._evaluator = ProgramEvaluator(X, self.cache_mb)
        self._settings = ProgramSettings(
            function_set(self.function_set), X.shape[1], tuple(self.init_depth), self.init_method,
            None if self.const_range is None else tuple(self.const_range), self.p_point_replace,
            list(self.feature_names_),
        )
        self._memo: dict[tuple, Score] = {}
        self.n_evaluations_ = 0
        rng = check_random_state(self.random_state)
        signature = self._signature(X, probs, sample_weight)

        population, start, stopped = None, 0, False
        self.run_details_: list[dict] = []
        self._best: Member | None = None
        if checkpoint is not None and Path(checkpoint).is_file():
            population, start, stopped = self._load_checkpoint(Path(checkpoint), signature, rng)

        for generation in range(start, self.generations):
            if stopped:
                break
            began = time.perf_counter()
            evaluations = self.n_evaluations_
            if population is None:
                population = self._initial_population(rng, initial_forests)
            else:
                population = self._breed(population, generation, rng)
            self._tune_constants(population)
            stats = self._record(population, generation, time.perf_counter() - began,
                                 self.n_evaluations_ - evaluations)
            stopped = stats["best_agreement"] >= self.stopping_agreement
            if checkpoint is not None:
                self._save_checkpoint(Path(checkpoint), population, generation, stopped, signature, rng)
            if self.verbose:
                print(self._report(stats))
            if callback is not None:
                callback(stats, self)
        if self._best is None:
            raise ValueError("no generation was run; generations must be at least 1")
        self.forest_ = self.current_best()
        self.best_fitness_, self.best_loss_ = self._best.fitness, self._best.loss
        return self

    def current_best(self) -> SymbolicForest:
        """The best forest found so far (also during ``fit``, from a callback)."""
        return self._forest(self._best)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Logits (n_states, n_actions) of the best forest."""
        return self.forest_.logits(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.forest_.predict(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.forest_.predict_proba(X)

    # ----------------------------------------------------------------------------- evolution

    def _initial_population(self, rng: np.random.RandomState,
                            seeds: Sequence[SymbolicForest]) -> list[Member]:
        population = []
        for forest in list(seeds)[: self.population_size]:
            if forest.n_actions != self.n_actions_ or len(forest.feature_names) != self.n_features_in_:
                raise ValueError("an initial forest does not match the data's features or actions")
            population.append(Member([PolicyProgram(self._settings, None, list(p)) for p in forest.programs],
                                     [None] * self.n_actions_))
        while len(population) < self.population_size:
            programs = [self._grow(rng) for _ in range(self.n_actions_)]
            population.append(Member(programs, [None] * self.n_actions_))
        self._evaluate(population)
        return population

    def _grow(self, rng: np.random.RandomState) -> PolicyProgram:
        """A random program within the size limit (bushy trees of 4-ary judges are regrown)."""
        smallest = None
        for _ in range(100):
            program = PolicyProgram(self._settings, rng)
            if len(program.program) <= self.max_program_size:
                return program
            if smallest is None or len(program.program) < len(smallest.program):
                smallest = program
        return smallest

    def _breed(self, parents: list[Member], generation: int, rng: np.random.RandomState) -> list[Member]:
        action = None
        if self.strategy == "coordinate":
            turn = (generation - 1) // self.coordinate_generations
            action = turn % self.n_actions_
            if (generation - 1) % self.coordinate_generations == 0:
                parents = self._share_context(parents, action)
        order = sorted(range(len(parents)), key=lambda i: parents[i].fitness)
        children = [parents[i] for i in order[: self.elitism]]
        fitness = np.array([m.fitness for m in parents])
        probs = np.cumsum([self.p_crossover, self.p_subtree_mutation, self.p_hoist_mutation,
                           self.p_point_mutation, self.p_constant_mutation])
        while len(children) < self.population_size:
            parent = parents[self._tournament(fitness, rng)]
            a = rng.randint(self.n_actions_) if action is None else action
            program = parent.programs[a]
            method = rng.uniform()
            if method < probs[0]:
                donor = parents[self._tournament(fitness, rng)].programs[a]
                nodes = program.crossover(donor.program, rng)[0]
            elif method < probs[1]:
                nodes = program.subtree_mutation(rng)[0]
            elif method < probs[2]:
                nodes = program.hoist_mutation(rng)[0]
            elif method < probs[3]:
                nodes = program.point_mutation(rng)[0]
            elif method < probs[4]:
                nodes = program.constant_mutation(rng)
            else:
                nodes = None
            if nodes is None or len(nodes) > self.max_program_size:
                children.append(parent)
            else:
                children.append(parent.replaced(a, program.child(nodes)))
        self._evaluate(children)
        return children

    def _tune_constants(self, population: list[Member]) -> None:
        """Replace each of the ``optimize_constants`` best distinct forests by its constant-tuned
        version where that scores better (stateless, so a resumed run tunes the same forests)."""
        tuned_keys: set[tuple] = set()
        for i in sorted(range(len(population)), key=lambda i: population[i].fitness):
            if len(tuned_keys) >= self.optimize_constants:
                break
            member = population[i]
            if member.key in tuned_keys:
                continue
            tuned_keys.add(member.key)
            forest = self._optimizer(self._forest(member))
            if forest is None:
                continue
            tuned = Member([PolicyProgram(self._settings, None, p) for p in forest.programs],
                           [None] * self.n_actions_)
            self._evaluate([tuned])
            if tuned.fitness < member.fitness:
                population[i] = tuned

    def _share_context(self, population: list[Member], action: int) -> list[Member]:
        """Coordinate rounds: every forest takes the best forest's programs except ``action``'s."""
        best = min(population, key=lambda m: m.fitness)
        shared = []
        for member in population:
            programs, outputs = list(best.programs), list(best.outputs)
            programs[action], outputs[action] = member.programs[action], member.outputs[action]
            shared.append(Member(programs, outputs))
        self._evaluate(shared)
        return shared

    def _tournament(self, fitness: np.ndarray, rng: np.random.RandomState) -> int:
        contenders = rng.randint(0, len(fitness), self.tournament_size)
        return int(contenders[np.argmin(fitness[contenders])])

    def _evaluate(self, population: list[Member]) -> None:
        for member in population:
            if member.fitness == member.fitness:  # already known (elite or unchanged parent)
                continue
            key = member.key
            known = self._memo.get(key)
            if known is None:
                for a, program in enumerate(member.programs):
                    if member.outputs[a] is None:
                        member.outputs[a] = self._evaluator(program.program)
                known = self._loss(member.outputs)
                self._memo[key] = known
                self.n_evaluations_ += 1
            member.loss, member.scale, member.agreement = known.loss, known.scale, known.agreement
            member.fitness = member.loss + self.parsimony_coefficient * member.size
        if len(self._memo) > 8 * self.population_size:
            self._memo.clear()

    def _record(self, population: list[Member], generation: int, seconds: float, evaluations: int) -> dict:
        best = min(population, key=lambda m: m.fitness)
        if self._best is None or best.fitness < self._best.fitness:
            self._best = best
        sizes = [m.size for m in population]
        stats = {
            "generation": generation,
            "best_fitness": self._best.fitness,
            "best_loss": self._best.loss,
            "best_scale": self._best.scale,
            "best_agreement": self._best.agreement,
            "best_size": self._best.size,
            "best_sizes": [len(p.program) for p in self._best.programs],
            "average_fitness": float(np.mean([m.fitness for m in population])),
            "average_size": float(np.mean(sizes)),
            "evaluations": evaluations,
            "seconds": seconds,
        }
        self.run_details_.append(stats)
        return stats

    @staticmethod
    def _report(stats: dict) -> str:
        return (f"gen {stats['generation']:3d}  fitness {stats['best_fitness']:.4f}  "
                f"agreement {stats['best_agreement']:.3f}  size {stats['best_size']:3d}  "
                f"avg size {stats['average_size']:.1f}  {stats['seconds']:.2f}s")

    def _forest(self, member: Member) -> SymbolicForest:
        return SymbolicForest([list(p.program) for p in member.programs], list(self.feature_names_),
                              list(self.action_names_), list(self.function_set), self.feature_spec,
                              member.scale)

    # ----------------------------------------------------------------------------- checks

    def _check_data(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X holds NaN or infinite values")
        y = np.asarray(y)
        n_actions = len(self.action_names) if self.action_names is not None else None
        if y.ndim == 1:
            n_actions = n_actions or int(y.max()) + 1
            probs = np.eye(n_actions)[y.astype(np.int64)]
        elif y.ndim == 2:
            probs = y.astype(np.float64)
            if n_actions is not None and probs.shape[1] != n_actions:
                raise ValueError(f"y has {probs.shape[1]} actions, action_names {n_actions}")
        else:
            raise ValueError("y must be actions (n,) or action probabilities (n, n_actions)")
        if len(probs) != len(X):
            raise ValueError(f"X has {len(X)} states but y has {len(probs)}")
        self.n_features_in_, self.n_actions_ = X.shape[1], probs.shape[1]
        self.feature_names_ = (list(self.feature_names) if self.feature_names is not None
                               else [f"X{i}" for i in range(X.shape[1])])
        self.action_names_ = (list(self.action_names) if self.action_names is not None
                              else [f"a{i}" for i in range(self.n_actions_)])
        if len(self.feature_names_) != X.shape[1]:
            raise ValueError(f"{len(self.feature_names_)} feature names for {X.shape[1]} features")
        return X, probs

    def _check_params(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        total = (self.p_crossover + self.p_subtree_mutation + self.p_hoist_mutation + self.p_point_mutation
                 + self.p_constant_mutation)
        if total > 1.0 + 1e-9:
            raise ValueError(f"the genetic operators' probabilities sum to {total:.3f} > 1")
        if not 0 <= self.elitism < self.population_size:
            raise ValueError("elitism must be at least 0 and smaller than population_size")
        if self.temperature <= 0:
            raise ValueError("temperature must be positive")

    # ----------------------------------------------------------------------------- checkpoints

    _UNCHECKED = ("generations", "stopping_agreement", "verbose", "cache_mb", "feature_spec")

    def _signature(self, X: np.ndarray, probs: np.ndarray, weights: np.ndarray | None) -> str:
        """Fingerprint of the data and every setting that changes the evolution's course."""
        digest = hashlib.sha256()
        for array in (X, probs, weights):
            if array is not None:
                digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        params = {k: v for k, v in vars(self).items()
                  if not k.startswith("_") and not k.endswith("_") and k not in self._UNCHECKED}
        digest.update(json.dumps(params, sort_keys=True, default=list).encode())
        return digest.hexdigest()[:16]

    def _save_checkpoint(self, path: Path, population: list[Member], generation: int, stopped: bool,
                         signature: str, rng: np.random.RandomState) -> None:
        name, keys, pos, has_gauss, cached = rng.get_state()
        write_json(path, {
            "signature": signature,
            "generation": generation,
            "stopped": stopped,
            "rng": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            "population": [[to_tokens(p.program) for p in m.programs] for m in population],
            "best": [to_tokens(p.program) for p in self._best.programs],
            "run_details": self.run_details_,
            "n_evaluations": self.n_evaluations_,
        })

    def _load_checkpoint(self, path: Path, signature: str,
                         rng: np.random.RandomState) -> tuple[list[Member], int, bool]:
        state = read_json(path)
        if state.get("signature") != signature:
            raise ValueError(f"checkpoint {path} was made with other data or settings; "
                             "delete it to start over")
        name, keys, pos, has_gauss, cached = state["rng"]
        rng.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))

        def member(tokens: list) -> Member:
            programs = [PolicyProgram(self._settings, None, from_tokens(t)) for t in tokens]
            return Member(programs, [None] * len(programs))

        population = [member(tokens) for tokens in state["population"]]
        self._evaluate(population)
        best = member(state["best"])
        self._evaluate([best])
        self._best = best
        self.run_details_ = list(state["run_details"])
        self.n_evaluations_ = int(state["n_evaluations"])
        return population, int(state["generation"]) + 1, bool(state["stopped"])
