"""Operators: numpy and torch (hard mode) agree bit for bit and stay finite on any finite input."""

import numpy as np
import pytest
import torch

from gplearn_custom.language.operators import BOUND, OPERATORS


def nasty_inputs(arity: int, n: int = 400, seed: int = 0) -> list[np.ndarray]:
    """Random values mixed with zeros, near-zero divisors, huge values and exact ties."""
    rng = np.random.default_rng(seed)
    special = np.array([0.0, -0.0, 1e-4, -1e-3, 1e-3, 1.0, -1.0, 1e300, -1e300, 1e9, -1e9, 1e-300])
    args = []
    for _ in range(arity):
        x = rng.normal(size=n) * 10.0 ** rng.integers(-5, 12, size=n)
        mask = rng.random(n) < 0.4
        x[mask] = rng.choice(special, size=int(mask.sum()))
        args.append(x)
    args[-1][:20] = args[0][:20]  # ties, for the comparisons
    return args


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_numpy_and_torch_hard_mode_agree_exactly_and_stay_finite(name):
    op = OPERATORS[name]
    for seed in range(3):
        args = nasty_inputs(op.arity, seed=seed)
        with np.errstate(all="ignore"):
            expected = op.numpy(*args)
        got = op.torch(*[torch.from_numpy(a) for a in args], soft=False, temperature=0.1).numpy()
        assert np.all(np.isfinite(expected)) and not np.any(np.isnan(got))
        if name in ("add", "sub", "mul", "div", "dist"):  # the rest pass their (finite) inputs on
            assert np.all(np.abs(expected) <= BOUND)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_scalar_arguments_broadcast_like_arrays(name):
    op = OPERATORS[name]
    args = nasty_inputs(op.arity, n=50, seed=7)
    mixed = [0.25 if i % 2 else a for i, a in enumerate(args)]
    full = [np.full(50, 0.25) if i % 2 else a for i, a in enumerate(args)]
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(np.broadcast_to(op.numpy(*mixed), (50,)), op.numpy(*full))


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_soft_mode_is_finite_and_differentiable(name):
    op = OPERATORS[name]
    args = [torch.tensor(a, requires_grad=True) for a in nasty_inputs(op.arity, n=100, seed=3)]
    out = op.torch(*args, soft=True, temperature=0.1)
    out.sum().backward()
    assert torch.isfinite(out).all()
    for a in args:
        assert a.grad is not None and torch.isfinite(a.grad).all()


def test_soft_judges_approach_hard_ones_away_from_the_boundary():
    a = torch.tensor([-2.0, -0.5, 0.5, 2.0], dtype=torch.float64)
    b = torch.zeros(4, dtype=torch.float64)
    c, d = torch.full((4,), 3.0, dtype=torch.float64), torch.full((4,), -3.0, dtype=torch.float64)
    soft_gt = OPERATORS["gt"].torch(a, b, soft=True, temperature=0.01)
    np.testing.assert_allclose(soft_gt.numpy(), [0, 0, 1, 1], atol=1e-12)
    soft_if = OPERATORS["ifgt"].torch(a, b, c, d, soft=True, temperature=0.01)
    np.testing.assert_allclose(soft_if.numpy(), [-3, -3, 3, 3], atol=1e-12)
    # and give a gradient where the hard step has none
    a.requires_grad_(True)
    OPERATORS["gt"].torch(a, b, soft=True, temperature=1.0).sum().backward()
    assert (a.grad > 0).all()


def test_protected_division_and_judges_semantics():
    divided = OPERATORS["div"].numpy(np.array([3.0, 3.0]), np.array([0.0, 2.0]))
    np.testing.assert_array_equal(divided, [1.0, 1.5])
    np.testing.assert_array_equal(OPERATORS["gt"].numpy(np.array([1.0, 1.0, 2.0]), np.array([2.0, 1.0, 1.0])),
                                  [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(OPERATORS["ifgt"].numpy(1.0, 0.0, np.array([5.0]), np.array([6.0])), [5.0])
    assert OPERATORS["dist"].numpy(0.0, 0.0, 3.0, -4.0) == 7.0
    with np.errstate(all="ignore"):
        assert OPERATORS["mul"].numpy(1e300, 1e300) == BOUND
