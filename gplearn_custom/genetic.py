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
(``gplearn_custom.constants``), a memetic step: evolution finds shapes, L-BFGS their numbers;
``soft_judges`` (a sigmoid width) lets that gradient reach thresholds inside comparisons.
Fitness is the distillation cross-entropy plus ``parsimony_coefficient`` times the total number
of nodes; a child whose changed program exceeds ``max_program_size`` nodes is replaced by its
parent (Koza's size limit). The loop itself, with its checkpoints, is
``gplearn_custom.evolution``'s, shared with Stage III.

As gplearn's estimators, it is a scikit-learn classifier: ``classes_``, ``score`` (agreement with
the teacher's actions), ``warm_start`` (a second ``fit`` with more ``generations`` continues the
population and the random stream, so it ends where one longer run would) and ``n_jobs`` (threads
that evaluate new programs; numpy releases the GIL on the larger datasets).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from gplearn.utils import check_random_state
from sklearn.base import BaseEstimator, ClassifierMixin

from common.devices import check_n_jobs, cores
from gplearn_custom.config import DEFAULT_FUNCTION_SET
from gplearn_custom.constants import ConstantOptimizer
from gplearn_custom.evolution import CHECKPOINT_FORMAT, Evolution, LoopSettings, Member
from gplearn_custom.fitness import DistillationLoss, Score, soften
from gplearn_custom.language.features import FeatureSpec
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import ProgramEvaluator, ProgramSettings, function_set
from gplearn_custom.language.variation import Variation

STRATEGIES = ("joint", "coordinate")


class SymbolicPolicyDistiller(ClassifierMixin, BaseEstimator, Evolution):
    """A gplearn-style classifier: ``fit(X, teacher_probs)`` evolves a forest, ``predict`` acts.

    ``y`` is the teacher's action distribution (n_states, n_actions) or its actions (n_states,),
    taken as one-hot. After ``fit``: ``forest_`` (the best forest), ``classes_`` (the action
    indices), ``run_details_`` (per generation statistics, as gplearn's), ``n_evaluations_``
    (forests evaluated).
    """

    checkpoint_seconds = 10.0  # a generation takes less than writing the population

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
        soft_judges: float | None = 0.05,
        temperature: float = 1.0,
        strategy: str = "joint",
        coordinate_generations: int = 2,
        stopping_agreement: float = 1.0,
        cache_mb: float = 256.0,
        feature_names: Sequence[str] | None = None,
        action_names: Sequence[str] | None = None,
        feature_spec: FeatureSpec | None = None,
        warm_start: bool = False,
        n_jobs: int = 1,
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
        self.soft_judges = soft_judges
        self.temperature = temperature
        self.strategy = strategy
        self.coordinate_generations = coordinate_generations
        self.stopping_agreement = stopping_agreement
        self.cache_mb = cache_mb
        self.feature_names = feature_names
        self.action_names = action_names
        self.feature_spec = feature_spec
        self.warm_start = warm_start
        self.n_jobs = n_jobs
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
        """Evolve; ``checkpoint`` is resumed if it exists and rewritten as the loop says (``evolution``);
        ``callback(stats, self)`` runs after each generation; ``initial_forests`` seed the first
        population (e.g. the previous round of DAgger)."""
        X, probs = self._check_data(X, y)
        self._check_params()
        data = self._data_signature(X, probs, sample_weight)
        warm = None
        if self.warm_start and hasattr(self, "forest_"):
            if data != self._data:
                raise ValueError("warm_start continues a fit on the same data; "
                                 "fit anew with warm_start=False")
            if self.generations < len(self.run_details_):
                raise ValueError(f"generations={self.generations} is fewer than the "
                                 f"{len(self.run_details_)} already run; raise it to continue")
            warm = self._population
        else:
            self._rng = check_random_state(self.random_state)
            self.n_evaluations_ = 0
        self._data = data
        target = soften(probs, self.temperature)
        self._loss = DistillationLoss(target, np.argmax(probs, axis=1), sample_weight)
        self._optimizer = ConstantOptimizer(X, target, sample_weight, self.optimize_steps,
                                            soft_temperature=self.soft_judges)
        self._evaluator = ProgramEvaluator(X, self.cache_mb)
        self._variation = Variation(ProgramSettings(
            function_set(self.function_set), X.shape[1], tuple(self.init_depth), self.init_method,
            None if self.const_range is None else tuple(self.const_range), self.p_point_replace,
            list(self.feature_names_),
        ))
        self._names = (list(self.feature_names_), list(self.action_names_), list(self.function_set),
                       self.feature_spec)
        self._loop = LoopSettings(
            self.population_size, self.generations, self.tournament_size, self.elitism, self.max_program_size,
            [self.p_crossover, self.p_subtree_mutation, self.p_hoist_mutation, self.p_point_mutation,
             self.p_constant_mutation], fixed_fitness=True)
        self._memo: dict[tuple, Score] = {}
        self._initial_forests = list(initial_forests)

        def after_generation(stats: dict) -> None:
            if self.verbose:
                print(self._report(stats))
            if callback is not None:
                callback(stats, self)

        path = None if checkpoint is None else Path(checkpoint)
        self._population = self._evolve(path, after_generation, warm)
        self.run_details_ = self._history
        self.forest_ = self.current_best()
        self.classes_ = np.arange(self.n_actions_)
        self.best_fitness_, self.best_loss_ = -self._best.fitness, self._best.measures["loss"]
        return self

    def current_best(self) -> SymbolicForest:
        """The best forest found so far (also during ``fit``, from a callback)."""
        return self.forest(self._best)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Logits (n_states, n_actions) of the best forest."""
        return self.forest_.logits(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.forest_.predict(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.forest_.predict_proba(X)

    def score(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Agreement: the (weighted) share of states where the forest acts as the teacher (``y`` as
        in ``fit``)."""
        y = np.asarray(y)
        actions = y.argmax(axis=1) if y.ndim == 2 else y
        return float(np.average(self.predict(X) == actions, weights=sample_weight))

    # ----------------------------------------------------------------------------- the fitness plugged in

    def _initial(self) -> list[Member]:
        population = []
        for forest in self._initial_forests[: self.population_size]:
            if forest.n_actions != self.n_actions_ or len(forest.feature_names) != self.n_features_in_:
                raise ValueError("an initial forest does not match the data's features or actions")
            population.append(Member([list(p) for p in forest.programs]))
        while len(population) < self.population_size:
            population.append(Member([self._grow() for _ in range(self.n_actions_)]))
        return population

    def _before_breeding(self, parents: list[Member], generation: int) -> tuple[list[Member], int | None]:
        """Coordinate rounds: one action per round, and at a round's start every forest takes the
        best forest's programs except that action's."""
        if self.strategy != "coordinate":
            return parents, None
        action = (generation - 1) // self.coordinate_generations % self.n_actions_
        if (generation - 1) % self.coordinate_generations == 0:
            best = self.best_of(parents)
            shared = []
            for member in parents:
                programs, outputs = list(best.programs), list(best.outputs or [None] * self.n_actions_)
                keys = list(best.program_key)
                programs[action] = member.programs[action]
                outputs[action] = None if member.outputs is None else member.outputs[action]
                keys[action] = member.program_key[action]
                shared.append(Member(programs, outputs=outputs, program_keys=keys))
            self._evaluate(shared)
            parents = shared
        return parents, action

    def _evaluate(self, population: list[Member]) -> None:
        """Cross-entropy to the teacher at each forest's best scale, plus parsimony; forests
        already scored are looked up; new programs are run on ``n_jobs`` threads."""
        pending = [m for m in population if m.fitness != m.fitness]
        new: dict[tuple, Member] = {}
        for member in pending:
            if member.program_key not in self._memo:
                new.setdefault(member.program_key, member)
        jobs = []
        for member in new.values():
            member.outputs = member.outputs or [None] * self.n_actions_
            jobs += [(member, a) for a, out in enumerate(member.outputs) if out is None]
        workers = cores(self.n_jobs)
        run = lambda job: self._evaluator(job[0].programs[job[1]], job[0].program_key[job[1]])  # noqa: E731
        if workers > 1 and len(jobs) > 1:
            with ThreadPoolExecutor(workers) as pool:
                outputs = list(pool.map(run, jobs))
        else:
            outputs = [run(job) for job in jobs]
        for (member, a), out in zip(jobs, outputs, strict=True):
            member.outputs[a] = out
        for key, score in zip(new, self._loss.many([m.outputs for m in new.values()]), strict=True):
            self._memo[key] = score
        self.n_evaluations_ += len(new)
        for member in pending:
            known = self._memo[member.program_key]
            member.scale, member.measures = known.scale, {"loss": known.loss, "agreement": known.agreement}
            member.fitness = -(known.loss + self.parsimony_coefficient * member.size)
        if len(self._memo) > 8 * self.population_size:
            self._memo.clear()

    def _improve(self, population: list[Member]) -> None:
        """Replace each of the ``optimize_constants`` best distinct forests by its constant-tuned
        version where that scores better (stateless, so a resumed run tunes the same forests)."""
        tuned_keys: set[tuple] = set()
        for i in self.ranked(population):
            if len(tuned_keys) >= self.optimize_constants:
                break
            member = population[i]
            if member.program_key in tuned_keys:
                continue
            tuned_keys.add(member.program_key)
            forest = self._optimizer(self.forest(member))
            if forest is None:
                continue
            tuned = Member([list(p) for p in forest.programs])
            self._evaluate([tuned])
            if tuned.fitness > member.fitness:
                population[i] = tuned

    def _stats(self, population: list[Member], generation: int, seconds: float, work: int) -> dict:
        best = self._best
        return {
            "generation": generation,
            "best_fitness": -best.fitness,
            "best_loss": best.measures["loss"],
            "best_scale": best.scale,
            "best_agreement": best.measures["agreement"],
            "best_size": best.size,
            "best_sizes": [len(p) for p in best.programs],
            "average_fitness": float(np.mean([-m.fitness for m in population])),
            "average_size": float(np.mean([m.size for m in population])),
            "evaluations": work,
            "seconds": seconds,
        }

    def _work(self) -> int:
        return self.n_evaluations_

    def _stop(self, stats: dict) -> bool:
        return stats["best_agreement"] >= self.stopping_agreement

    def _checkpoint_extra(self) -> dict:
        return {"n_evaluations": self.n_evaluations_}

    def _restore_extra(self, state: dict) -> None:
        self.n_evaluations_ = int(state["n_evaluations"])

    @staticmethod
    def _report(stats: dict) -> str:
        return (f"gen {stats['generation']:3d}  fitness {stats['best_fitness']:.4f}  "
                f"agreement {stats['best_agreement']:.3f}  size {stats['best_size']:3d}  "
                f"avg size {stats['average_size']:.1f}  {stats['seconds']:.2f}s")

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
        check_n_jobs("n_jobs", self.n_jobs)
        if not 0 <= self.elitism < self.population_size:
            raise ValueError("elitism must be at least 0 and smaller than population_size")
        if self.temperature <= 0:
            raise ValueError("temperature must be positive")

    # ----------------------------------------------------------------------------- checkpoints

    _UNCHECKED = ("generations", "stopping_agreement", "verbose", "cache_mb", "feature_spec", "warm_start",
                  "n_jobs")

    def _data_signature(self, X: np.ndarray, probs: np.ndarray, weights: np.ndarray | None) -> str:
        digest = hashlib.sha256()
        for array in (X, probs, weights):
            if array is not None:
                digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        return digest.hexdigest()

    def _signature(self) -> str:
        """Fingerprint of the data and every setting that changes the evolution's course."""
        params = {k: v for k, v in vars(self).items()
                  if not k.startswith("_") and not k.endswith("_") and k not in self._UNCHECKED}
        text = json.dumps([self._data, params, CHECKPOINT_FORMAT], sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
