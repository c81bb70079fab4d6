"""One program that regresses a per-state quantity (a learned reward): ``SymbolicRewardRegressor``.

The same loop (``gplearn_custom.evolution``), operators and function set as the policy search, with
a one-program member. A reward is defined up to scale and shift (T-REX learns it from rankings), so a
program is judged by the R^2 of its best affine fit to the target, which is its squared Pearson
correlation, minus ``parsimony_coefficient`` per node; the fit's slope and intercept are kept with the
best program, so ``predict`` is on the target's scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import sympy
from gplearn.utils import check_random_state
from sklearn.base import BaseEstimator, RegressorMixin

from gplearn_custom.config import DEFAULT_FUNCTION_SET
from gplearn_custom.evolution import Evolution, LoopSettings, Member
from gplearn_custom.language.export import simplify, to_sympy
from gplearn_custom.language.features import FeatureSpec
from gplearn_custom.language.program import ProgramEvaluator, ProgramSettings, execute, function_set
from gplearn_custom.language.variation import Variation


def affine_fit(output: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """R^2, slope and intercept of the least-squares line from ``output`` to ``target`` (R^2 0 for a
    constant or non-finite output)."""
    spread = output.std()
    if not np.isfinite(spread) or spread < 1e-12:
        return 0.0, 0.0, float(target.mean())
    r = float(np.corrcoef(output, target)[0, 1])
    slope = r * target.std() / spread
    return r * r, slope, float(target.mean() - slope * output.mean())


class SymbolicRewardRegressor(RegressorMixin, BaseEstimator, Evolution):
    """A gplearn-style regressor: ``fit(X, y)`` evolves one program, ``predict`` is its affine fit.

    After ``fit``: ``program_`` (a one-program ``SymbolicForest`` named "reward"), ``slope_``,
    ``intercept_``, ``r2_`` (of the best program on the fitted data), ``run_details_``.
    """

    checkpoint_seconds = 10.0  # a generation takes less than writing the population

    def __init__(self, *, population_size: int = 500, generations: int = 20, tournament_size: int = 7,
                 function_set: Sequence[str] = DEFAULT_FUNCTION_SET, init_depth: tuple[int, int] = (2, 4),
                 init_method: str = "half and half", const_range: tuple[float, float] | None = (-1.0, 1.0),
                 parsimony_coefficient: float = 0.002, p_crossover: float = 0.6,
                 p_subtree_mutation: float = 0.15, p_hoist_mutation: float = 0.05,
                 p_point_mutation: float = 0.1, p_point_replace: float = 0.05, max_program_size: int = 20,
                 elitism: int = 1, feature_names: Sequence[str] | None = None,
                 feature_spec: FeatureSpec | None = None, random_state: int | None = None, verbose: int = 0):
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
        self.max_program_size = max_program_size
        self.elitism = elitism
        self.feature_names = feature_names
        self.feature_spec = feature_spec
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X: np.ndarray, y: np.ndarray,
            callback: Callable[[dict], None] | None = None) -> SymbolicRewardRegressor:
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
            raise ValueError(f"X must be (n, features) and y (n,), got {X.shape} and {y.shape}")
        names = list(self.feature_names) if self.feature_names is not None else [f"X{i}" for i in
                                                                                   range(X.shape[1])]
        if len(names) != X.shape[1]:
            raise ValueError(f"{len(names)} feature names for {X.shape[1]} features")
        self.n_features_in_ = X.shape[1]
        self._rng = check_random_state(self.random_state)
        self._target = y
        self._evaluator = ProgramEvaluator(X)
        self._variation = Variation(ProgramSettings(
            function_set(self.function_set), X.shape[1], tuple(self.init_depth), self.init_method,
            None if self.const_range is None else tuple(self.const_range), self.p_point_replace, names))
        self._names = (names, ["reward"], list(self.function_set), self.feature_spec)
        self._loop = LoopSettings(
            self.population_size, self.generations, self.tournament_size, self.elitism, self.max_program_size,
            [self.p_crossover, self.p_subtree_mutation, self.p_hoist_mutation, self.p_point_mutation, 0.0],
            fixed_fitness=True)

        def after_generation(stats: dict) -> None:
            if self.verbose:
                print(f"gen {stats['generation']:3d}  R^2 {stats['best_r2']:.4f}  size {stats['best_size']}")
            if callback is not None:
                callback(stats)

        self._evolve(None, after_generation)
        self.run_details_ = self._history
        self.program_ = self.forest(self._best)
        measures = self._best.measures
        self.r2_, self.slope_, self.intercept_ = measures["r2"], measures["slope"], measures["intercept"]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        output = execute(self.program_.programs[0], np.atleast_2d(np.asarray(X, dtype=np.float64)))
        return self.slope_ * np.broadcast_to(output, (len(X),)) + self.intercept_

    def text(self, digits: int = 4) -> str:
        """The fitted reward in infix: slope * program + intercept, simplified."""
        expr = simplify(to_sympy(self.program_.programs[0], self.program_.feature_names), digits)
        return (f"{self.slope_:.{digits}g} * ({sympy.sstr(expr)}) + {self.intercept_:.{digits}g}")

    # ----------------------------------------------------------------------------- the loop's hooks

    def _initial(self) -> list[Member]:
        return [Member([self._grow()]) for _ in range(self.population_size)]

    def _evaluate(self, population: list[Member]) -> None:
        for member in population:
            if member.fitness == member.fitness:
                continue
            r2, slope, intercept = affine_fit(self._evaluator(member.programs[0]), self._target)
            member.measures = {"r2": r2, "slope": slope, "intercept": intercept}
            member.fitness = r2 - self.parsimony_coefficient * member.size

    def _stats(self, population: list[Member], generation: int, seconds: float, work: int) -> dict:
        best = self._best
        return {"generation": generation, "best_fitness": best.fitness, "best_r2": best.measures["r2"],
                "best_size": best.size, "average_size": float(np.mean([m.size for m in population])),
                "seconds": seconds}

    def _signature(self) -> str:
        return "symbolic-reward"  # never checkpointed: a fit runs in one go
