"""Programs: the cached evaluator, gplearn's own execute, the torch module and the JSON format agree;
growing and varying them gives gplearn's programs from the same draws, buffered or not."""

import numpy as np
import pytest
import torch
from gplearn._program import _Program

from gplearn_custom.draws import BufferedDraws
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import (
    FUNCTIONS,
    ProgramEvaluator,
    ProgramSettings,
    cache_key,
    from_tokens,
    subtree_ends,
    to_tokens,
)
from gplearn_custom.language.torch_forest import TorchForest
from gplearn_custom.language.variation import Variation

N_FEATURES = 6


def random_programs(count, seed=0, depth=(1, 5)):
    settings = ProgramSettings(list(FUNCTIONS.values()), N_FEATURES, init_depth=depth,
                               const_range=(-2.0, 2.0))
    rng = np.random.RandomState(seed)
    return [Variation(settings).grow(rng) for _ in range(count)]


def gplearn_program(settings, rng=None, program=None):
    """gplearn's own ``_Program`` with ``settings``: grown from ``rng``, or holding ``program``."""
    return _Program(settings.function_set, settings.arities, settings.init_depth, settings.init_method,
                    settings.n_features, settings.const_range, None, settings.p_point_replace, 0.0, rng,
                    program=program)


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
                reference = gplearn_program(cached_settings(), program=program).execute(X)
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


@pytest.mark.parametrize("const_range", [(-1.0, 1.0), None])
@pytest.mark.parametrize("buffered", [False, True])
def test_variation_makes_gplearns_programs_from_the_same_draws(const_range, buffered):
    """Growing and each operator give gplearn's own programs, and leave the random state where
    gplearn leaves it; through BufferedDraws too (released at the end)."""
    settings = ProgramSettings(list(FUNCTIONS.values()), N_FEATURES, init_depth=(1, 5),
                               const_range=const_range, p_point_replace=0.2)
    variation = Variation(settings)
    for seed in range(60):
        theirs, ours = np.random.RandomState(seed), np.random.RandomState(seed)
        draws = BufferedDraws(ours, block=64) if buffered else ours
        for _ in range(3):
            program = gplearn_program(settings, theirs).program
            donor = gplearn_program(settings, theirs).program
            assert cache_key(variation.grow(draws)) == cache_key(program)
            assert cache_key(variation.grow(draws)) == cache_key(donor)
            parent = gplearn_program(settings, program=program)
            expected = [parent.crossover(donor, theirs)[0], parent.subtree_mutation(theirs)[0],
                        parent.hoist_mutation(theirs)[0], parent.point_mutation(theirs)[0]]
            made = [variation.crossover(program, donor, draws), variation.subtree_mutation(program, draws),
                    variation.hoist_mutation(program, draws), variation.point_mutation(program, draws)]
            assert [cache_key(p) for p in made] == [cache_key(p) for p in expected]
        if buffered:
            draws.release()
        assert theirs.randint(2**31) == ours.randint(2**31)


def test_buffered_draws_equal_the_random_states_and_release_it_in_place():
    """Every method a search calls gives the RandomState's own numbers, across block boundaries, a
    cached normal and calls passed through (permutation); released, the state is the same."""
    for seed in range(10):
        theirs, ours = np.random.RandomState(seed), np.random.RandomState(seed)
        if seed % 2:  # a normal's second value waiting in the state
            theirs.normal(), ours.normal()
        draws, calls = BufferedDraws(ours, block=32), np.random.RandomState(100 + seed)
        for _ in range(600):
            kind = calls.randint(7)
            if kind == 0:
                high = int(calls.choice([1, 2, 3, 1000, 1025, 2**31, 2**32 - 1]))
                pair = theirs.randint(high), draws.randint(high)
            elif kind == 1:
                pair = theirs.randint(3, 1003, 20).tolist(), draws.randint(3, 1003, 20).tolist()
            elif kind == 2:
                pair = theirs.randint(0, 1000, 20).tolist(), draws.integers(1000, 20)
            elif kind == 3:
                pair = theirs.uniform(-1.0, 2.0), draws.uniform(-1.0, 2.0)
            elif kind == 4:
                pair = theirs.uniform(size=7).tolist(), draws.uniform(size=7).tolist()
            elif kind == 5:
                pair = theirs.normal(), draws.normal()
            else:
                pair = theirs.permutation(6).tolist(), draws.permutation(6).tolist()
            assert pair[0] == pair[1], (seed, kind)
        draws.release()
        mine, expected = ours.get_state(), theirs.get_state()
        assert np.array_equal(mine[1], expected[1]) and mine[2:] == expected[2:]
