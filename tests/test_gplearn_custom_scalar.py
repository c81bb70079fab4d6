"""The forest compiled to plain Python decides exactly as the numpy forest does."""

import numpy as np
import pytest

from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import FUNCTIONS, ProgramSettings
from gplearn_custom.language.scalar import compile_forest, scalar_source
from gplearn_custom.language.variation import Variation

N_FEATURES = 12


def random_forest(seed: int, n_actions: int = 3) -> SymbolicForest:
    settings = ProgramSettings(list(FUNCTIONS.values()), N_FEATURES, init_depth=(1, 5),
                               const_range=(-2.0, 2.0))
    rng = np.random.RandomState(seed)
    programs = [Variation(settings).grow(rng) for _ in range(n_actions)]
    names = [f"f{i}" for i in range(N_FEATURES)]
    return SymbolicForest(programs, names, [f"a{i}" for i in range(n_actions)], sorted(FUNCTIONS))


def inputs(n: int, seed: int) -> np.ndarray:
    """Ordinary values, exact zeros (ties, protected division) and huge ones (clipping)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)) * rng.choice([1e-4, 1.0, 1e6], size=(n, N_FEATURES))
    X[rng.random((n, N_FEATURES)) < 0.2] = 0.0
    return X


@pytest.mark.parametrize("seed", range(40))
def test_compiled_forest_equals_numpy_forest(seed):
    forest = random_forest(seed, n_actions=2 + seed % 4)
    X = inputs(300, seed)
    decide = compile_forest(forest)
    with np.errstate(all="ignore"):
        expected = forest.predict(X)
    assert [decide(row) for row in X.tolist()] == expected.tolist()


def test_ties_go_to_the_first_action_as_numpy_argmax():
    forest = SymbolicForest([[0.5], [0.5], [FUNCTIONS["abs"], 0]], ["f0"], ["a", "b", "c"], ["abs"])
    decide = compile_forest(forest)
    assert [decide([0.0]), decide([0.5]), decide([-0.7])] == [0, 0, 2]
    assert "def decide(x):" in scalar_source(forest)
