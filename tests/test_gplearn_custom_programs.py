"""Programs: the cached evaluator, gplearn's own execute, the torch module and the JSON format agree."""

import numpy as np
import pytest
import torch

from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import (
    FUNCTIONS,
    PolicyProgram,
    ProgramEvaluator,
    ProgramSettings,
    from_tokens,
    subtree_ends,
    to_tokens,
)
from gplearn_custom.language.torch_forest import TorchForest

N_FEATURES = 6


def random_programs(count, seed=0, depth=(1, 5)):
    settings = ProgramSettings(list(FUNCTIONS.values()), N_FEATURES, init_depth=depth,
                               const_range=(-2.0, 2.0))
    rng = np.random.RandomState(seed)
    return [PolicyProgram(settings, rng).program for _ in range(count)]


def random_forest(seed, n_actions=3):
    names = [f"f{i}" for i in range(N_FEATURES)]
    return SymbolicForest(random_programs(n_actions, seed), names, [f"a{i}" for i in range(n_actions)],
                          sorted(FUNCTIONS), scale=2.5)


def data(n=300, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)) * 10.0 ** rng.integers(-3, 3, size=(n, N_FEATURES))
    X[: n // 10] = 0.0
    return X


def test_cached_evaluation_equals_plain_and_gplearn_execution():
    X = data()
    cached, plain = ProgramEvaluator(X, cache_mb=16), ProgramEvaluator(X, cache_mb=0)
    programs = random_programs(200)
    for _ in range(2):  # the second pass is served from the cache
        for program in programs:
            expected = plain(program)
            with np.errstate(all="ignore"):
                reference = PolicyProgram(cached_settings(), None, program).execute(X)
            reference = np.broadcast_to(reference, (len(X),))
            np.testing.assert_array_equal(cached(program), expected)
            np.testing.assert_array_equal(expected, reference)
            assert np.all(np.isfinite(expected))
    assert cached.operations < plain.operations


def cached_settings():
    return ProgramSettings(list(FUNCTIONS.values()), N_FEATURES)


def test_tokens_round_trip_and_reject_broken_programs():
    names = [f"f{i}" for i in range(N_FEATURES)]
    for program in random_programs(50, seed=3):
        assert from_tokens(to_tokens(program)) == program
        assert from_tokens(to_tokens(program, names), names) == program
        assert subtree_ends(program)[0] == len(program)
    for broken in (["add", 0], ["add", 0, 1, 2], []):
        with pytest.raises(ValueError, match="incomplete"):
            from_tokens(broken)
    with pytest.raises(ValueError, match="unknown"):
        from_tokens(["add", "nope", 1.0], names)


def test_forest_json_round_trip_keeps_every_action(tmp_path):
    X = data()
    for seed in range(5):
        forest = random_forest(seed)
        loaded = SymbolicForest.load(forest.save(tmp_path / f"program{seed}.json"))
        assert loaded.programs == forest.programs and loaded.scale == forest.scale
        np.testing.assert_array_equal(loaded.predict(X), forest.predict(X))


@pytest.mark.parametrize("seed", range(8))
def test_torch_module_equals_numpy_forest_on_random_programs(seed):
    X = data(seed=seed)
    forest = random_forest(seed)
    module = TorchForest(forest)
    with torch.no_grad():
        logits = module(torch.from_numpy(X)).numpy()
    np.testing.assert_array_equal(logits, forest.logits(X))
    np.testing.assert_allclose(module.probs(torch.from_numpy(X)).detach().numpy(), forest.predict_proba(X),
                               rtol=1e-9, atol=1e-12)


def test_torch_constants_are_parameters_that_write_back():
    program = [FUNCTIONS["sub"], 0, FUNCTIONS["mul"], 0.5, 1]
    forest = SymbolicForest([program, [0.25]], ["x", "y"], ["left", "right"], ["sub", "mul"])
    module = TorchForest(forest, soft=True)
    X = torch.tensor([[1.0, 2.0], [0.0, -1.0]], dtype=torch.float64)
    loss = module(X)[:, 0].sum() + module(X)[:, 1].sum()
    loss.backward()
    assert [p.grad.tolist() for p in module.constants] == [[-1.0], [2.0]]
    with torch.no_grad():
        module.constants[0][0] = 2.0
    assert module.to_forest().programs[0] == [FUNCTIONS["sub"], 0, FUNCTIONS["mul"], 2.0, 1]
    assert module.to_forest().constants() == [[2.0], [0.25]]
