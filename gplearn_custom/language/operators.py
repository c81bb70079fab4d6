"""Operators ("judges") of symbolic policies, each in numpy, torch and sympy.

Every operator is closed over finite numbers: protected division returns 1 where the divisor is
near zero (gplearn's closure), and arithmetic results are clipped to ``[-BOUND, BOUND]``, so no
input of finite values yields NaN or inf. The numpy functions are the reference: gplearn evolves
programs with them and the exported ``policy.py`` copies their source verbatim. They do not
silence floating-point warnings (an ``errstate`` per call would cost more than the operation);
callers that evaluate many of them wrap the whole evaluation in ``np.errstate(all="ignore")``.

The torch functions take ``soft`` and ``temperature`` keywords. With ``soft=False`` they equal the
numpy functions bit for bit on float64 (the same IEEE operations in the same order). With
``soft=True`` the discontinuous judges get smooth surrogates so that Stage III can differentiate
through them: ``gt(a, b)`` becomes ``sigmoid((a - b) / temperature)`` and ``ifgt(a, b, c, d)``
becomes ``s * c + (1 - s) * d`` with that ``s``. ``abs``, ``max`` and ``min`` stay as they are
(differentiable almost everywhere).

Relations between objects are spelled with these judges over slot features: "a is left of b" is
``gt(b.x, a.x)``, "a is above b" is ``gt(b.y, a.y)`` (image y points down), and ``dist`` is the
city-block distance |x1 - x2| + |y1 - y2| between two positions. (Not the Euclidean one: torch's
float64 square root is not correctly rounded on every CPU, so it could not match numpy exactly.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy
import torch
from gplearn.functions import _Function, make_function

BOUND = 1e9
DIV_EPS = 1e-3


def add(a, b):
    return np.clip(np.add(a, b), -BOUND, BOUND)


def sub(a, b):
    return np.clip(np.subtract(a, b), -BOUND, BOUND)


def mul(a, b):
    return np.clip(np.multiply(a, b), -BOUND, BOUND)


def div(a, b):
    safe = np.where(np.abs(b) > DIV_EPS, b, 1.0)
    return np.clip(np.where(np.abs(b) > DIV_EPS, np.divide(a, safe), 1.0), -BOUND, BOUND)


def neg(a):
    return np.negative(a)


def absolute(a):
    return np.abs(a)


def maximum(a, b):
    return np.maximum(a, b)


def minimum(a, b):
    return np.minimum(a, b)


def gt(a, b):
    return np.greater(a, b).astype(np.float64)


def ifgt(a, b, c, d):
    return np.where(np.greater(a, b), c, d)


def dist(x1, y1, x2, y2):
    dx = np.abs(np.clip(np.subtract(x1, x2), -BOUND, BOUND))
    dy = np.abs(np.clip(np.subtract(y1, y2), -BOUND, BOUND))
    return np.clip(np.add(dx, dy), -BOUND, BOUND)


def _t_clip(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, -BOUND, BOUND)


def _t_step(a: torch.Tensor, b: torch.Tensor, soft: bool, temperature: float) -> torch.Tensor:
    if soft:
        return torch.sigmoid((a - b) / temperature)
    return (a > b).to(torch.result_type(a, b))


def _t_div(a, b, soft, temperature):
    ok = torch.abs(b) > DIV_EPS
    safe = torch.where(ok, b, torch.ones_like(b))
    return _t_clip(torch.where(ok, a / safe, 1.0))


def _t_ifgt(a, b, c, d, soft, temperature):
    if soft:
        s = _t_step(a, b, True, temperature)
        return s * c + (1 - s) * d
    return torch.where(a > b, c, d)


def _t_dist(x1, y1, x2, y2, soft, temperature):
    return _t_clip(torch.abs(_t_clip(x1 - x2)) + torch.abs(_t_clip(y1 - y2)))


def _s_gt(a, b):
    return sympy.Piecewise((1, sympy.StrictGreaterThan(a, b)), (0, True))


def _s_ifgt(a, b, c, d):
    return sympy.Piecewise((c, sympy.StrictGreaterThan(a, b)), (d, True))


@dataclass(frozen=True)
class Operator:
    """One judge: its numpy reference, torch twin (hard or soft) and sympy form for printing."""

    name: str
    arity: int
    numpy: Callable[..., np.ndarray]
    torch: Callable[..., torch.Tensor]  # (*args, soft, temperature)
    sympy: Callable[..., sympy.Expr]
    doc: str

    def gplearn(self) -> _Function:
        """The operator as a gplearn function node (``make_function`` checks its closure)."""
        return make_function(function=self.numpy, name=self.name, arity=self.arity, wrap=False)


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator("add", 2, add, lambda a, b, soft, temperature: _t_clip(a + b),
                 lambda a, b: a + b, "a + b"),
        Operator("sub", 2, sub, lambda a, b, soft, temperature: _t_clip(a - b),
                 lambda a, b: a - b, "a - b"),
        Operator("mul", 2, mul, lambda a, b, soft, temperature: _t_clip(a * b),
                 lambda a, b: a * b, "a * b"),
        Operator("div", 2, div, _t_div, lambda a, b: a / b, "a / b, 1 where |b| <= 0.001"),
        Operator("neg", 1, neg, lambda a, soft, temperature: -a, lambda a: -a, "-a"),
        Operator("abs", 1, absolute, lambda a, soft, temperature: torch.abs(a), sympy.Abs, "|a|"),
        Operator("max", 2, maximum, lambda a, b, soft, temperature: torch.maximum(a, b), sympy.Max,
                 "larger of a and b"),
        Operator("min", 2, minimum, lambda a, b, soft, temperature: torch.minimum(a, b), sympy.Min,
                 "smaller of a and b"),
        Operator("gt", 2, gt, _t_step, _s_gt, "1 if a > b else 0"),
        Operator("ifgt", 4, ifgt, _t_ifgt, _s_ifgt, "c if a > b else d"),
        Operator("dist", 4, dist, _t_dist,
                 lambda x1, y1, x2, y2: sympy.Abs(x1 - x2) + sympy.Abs(y1 - y2),
                 "city-block distance between (x1, y1) and (x2, y2)"),
    )
}

