"""A forest as straight-line Python over one feature vector: the fast path for one decision.

numpy pays about a microsecond per call whatever the array size, so a forest evaluated on one
state through numpy costs a few dozen microseconds. Played one state at a time, as an agent plays,
the same forest written out as plain Python arithmetic on floats costs about one. ``scalar_source``
writes that code (also embedded in the exported ``policy.py``); ``compile_forest`` runs it. The
operators mirror ``language.operators`` on finite floats (clipping to ``BOUND``, protected division,
first maximum on ties), so the actions equal ``SymbolicForest.predict`` (tested on random
programs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.operators import BOUND, DIV_EPS
from gplearn_custom.language.program import fold

# each operator as a Python expression template over its argument expressions
TEMPLATES: dict[str, str] = {
    "add": "_clip({0} + {1})",
    "sub": "_clip({0} - {1})",
    "mul": "_clip({0} * {1})",
    "div": "_div({0}, {1})",
    "neg": "(-{0})",
    "abs": "abs({0})",
    "max": "_max({0}, {1})",
    "min": "_min({0}, {1})",
    "gt": "(1.0 if {0} > {1} else 0.0)",
    "ifgt": "({2} if {0} > {1} else {3})",
    "dist": "_clip(abs(_clip({0} - {2})) + abs(_clip({1} - {3})))",
}

HELPERS = f'''def _clip(v):
    return -{BOUND!r} if v < -{BOUND!r} else {BOUND!r} if v > {BOUND!r} else v


def _div(a, b):
    return _clip(a / b) if abs(b) > {DIV_EPS!r} else 1.0


def _max(a, b):
    return b if b > a else a


def _min(a, b):
    return b if b < a else a
'''


def expression(program: Sequence) -> str:
    """One program (gplearn prefix nodes) as a Python expression over ``x[i]``."""
    return fold(program, lambda node, args: TEMPLATES[node.name].format(*args),
                lambda index: f"x[{index}]", lambda value: f"({float(value)!r})")


def scalar_source(forest: SymbolicForest, name: str = "decide") -> str:
    """Source of ``HELPERS`` and ``def name(x) -> int``: the greedy action for one feature vector."""
    lines = [HELPERS, "", f"def {name}(x):",
             '    """Greedy action for one feature vector (a sequence of floats), first on ties."""']
    lines += [f"    v{a} = {expression(p)}" for a, p in enumerate(forest.programs)]
    lines += ["    best, value = 0, v0"]
    lines += [f"    if v{a} > value:\n        best, value = {a}, v{a}" for a in range(1, forest.n_actions)]
    lines += ["    return best", ""]
    return "\n".join(lines)


def compile_forest(forest: SymbolicForest) -> Callable[[Sequence[float]], int]:
    """The forest's greedy action for one feature vector, as compiled Python."""
    namespace: dict = {}
    exec(compile(scalar_source(forest), "<symbolic forest>", "exec"), namespace)  # noqa: S102
    return namespace["decide"]
