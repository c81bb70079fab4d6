"""Writing a forest for people and for machines: ``program.txt`` and a standalone ``policy.py``.

``program.json`` is ``SymbolicForest.save``. ``program.txt`` prints each action's program in infix
with feature names, simplified by sympy (protected division and clipping omitted, as noted in
the file). ``policy.py`` needs only the standard library and numpy: it embeds the programs, the
feature spec and the very source of the numpy operators and of the feature builder, so it acts
exactly like the forest inside the project.
"""

from __future__ import annotations

import contextlib
import inspect
import pprint
from pathlib import Path

import sympy
from gplearn.functions import _Function

from common.io import write_text
from gplearn_custom.language import features, operators
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import fold, to_tokens
from gplearn_custom.language.scalar import scalar_source


def to_sympy(program: list, feature_names: list[str]) -> sympy.Expr:
    """The program as a sympy expression over feature symbols."""
    symbols = [sympy.Symbol(name) for name in feature_names]

    def function(node, args: list[sympy.Expr]) -> sympy.Expr:
        if node.name == "div" and args[1].is_number and abs(args[1]) <= operators.DIV_EPS:
            return sympy.Integer(1)  # protected division by a constant near zero
        return operators.OPERATORS[node.name].sympy(*args)

    return fold(program, function, lambda index: symbols[index], sympy.Float)


def simplify(expr: sympy.Expr, digits: int = 4) -> sympy.Expr:
    """sympy's simplification, then constants rounded to ``digits`` significant digits.

    Expressions with judges (``Piecewise``) keep the form sympy builds them in (like terms
    already combined): simplifying them takes seconds and expands the conditions into longer
    boolean formulas than the program itself."""
    if not expr.has(sympy.Piecewise):
        with contextlib.suppress(TypeError, ValueError, RecursionError):  # sympy gives up on some forms
            expr = sympy.simplify(expr)
    return expr.xreplace({f: sympy.Float(f, digits) for f in expr.atoms(sympy.Float)})


def program_text(forest: SymbolicForest) -> str:
    lines = [
        "# Symbolic policy: one program per action; the action is the argmax of their values.",
        "# div(a, b) is 1 where |b| <= 0.001 and results are clipped to +-1e9 (not shown below).",
        "# Features: see program.json (positions / image size, velocities / velocity_scale).",
        "",
    ]
    for name, program in zip(forest.action_names, forest.programs, strict=True):
        expr = simplify(to_sympy(program, forest.feature_names))
        lines.append(f"{name} ({len(program)} nodes): {sympy.sstr(expr)}")
    return "\n".join(lines) + "\n"


POLICY_TEMPLATE = '''"""Symbolic policy distilled by diffses: one program per action, action = argmax.

Standalone: needs only the standard library and numpy. ``act(features)`` takes a feature vector
(or a batch) laid out as FEATURE_NAMES; ``act_objects(objects)`` builds it from a list of objects
{{"type", "x_position", "y_position", "x_velocity", "y_velocity"}} in pixels.
"""

import numpy as np

BOUND = {bound!r}
DIV_EPS = {div_eps!r}

ACTION_NAMES = {actions}
FEATURE_NAMES = {features}
FEATURE_SPEC = {spec}
SCALE = {scale!r}  # inverse temperature: softmax(SCALE * logits) is the action distribution
PROGRAMS = {programs}


{operator_source}

FUNCTIONS = {function_table}


{feature_source}

def _run(program, columns):
    """Evaluate a prefix program (operator names, feature indices, float constants)."""
    def build(i):
        node = program[i]
        if isinstance(node, str):
            function, arity = FUNCTIONS[node]
            args, j = [], i + 1
            for _ in range(arity):
                value, j = build(j)
                args.append(value)
            return function(*args), j
        if isinstance(node, int):
            return columns[node], i + 1
        return node, i + 1

    return build(0)[0]


def logits(features):
    """Program outputs, shape (n_states, n_actions), of features (n_features,) or (n, n_features)."""
    x = np.atleast_2d(np.asarray(features, dtype=np.float64))
    columns = [x[:, k] for k in range(x.shape[1])]
    with np.errstate(all="ignore"):
        outs = [np.broadcast_to(_run(p, columns), (x.shape[0],)) for p in PROGRAMS]
    return np.stack(outs, axis=1)


# The same programs as plain Python on one feature vector: the fast path for one decision.
{scalar_source}

def act(features):
    """Greedy action: one int for one feature vector, an array for a batch."""
    if np.ndim(features) == 1:
        return decide(np.asarray(features, dtype=np.float64).tolist())
    return np.argmax(logits(features), axis=1)


def act_objects(objects):
    """Greedy action for one state given as a list of object dicts."""
    return decide(object_features([objects], FEATURE_SPEC)[0].tolist())


if __name__ == "__main__":
    for name, program in zip(ACTION_NAMES, PROGRAMS):
        print(name, program)
'''


def policy_source(forest: SymbolicForest) -> str:
    """The text of a standalone ``policy.py`` for ``forest``."""
    if forest.feature_spec is None:
        raise ValueError("policy.py needs the forest's feature spec")
    names = sorted({n.name for p in forest.programs for n in p if isinstance(n, _Function)})
    ops = [operators.OPERATORS[n] for n in names]
    operator_source = "\n\n".join(inspect.getsource(op.numpy) for op in ops)
    table = "{" + ", ".join(f"{op.name!r}: ({op.numpy.__name__}, {op.arity})" for op in ops) + "}"
    return POLICY_TEMPLATE.format(
        bound=operators.BOUND,
        div_eps=operators.DIV_EPS,
        actions=repr(list(forest.action_names)),
        features=_literal(forest.feature_names),
        spec=_literal(forest.feature_spec.to_dict()),
        scale=float(forest.scale),
        programs=_literal([to_tokens(p) for p in forest.programs]),
        operator_source=operator_source.rstrip() + "\n",
        function_table=table,
        feature_source=inspect.getsource(features.object_features),
        scalar_source=scalar_source(forest),
    )


def _literal(value: object) -> str:
    """A Python literal (``repr`` of floats round-trips exactly)."""
    return pprint.pformat(value, width=100, compact=True, sort_dicts=False)


def export_forest(forest: SymbolicForest, folder: str | Path) -> dict[str, Path]:
    """``program.json``, ``program.txt`` and ``policy.py`` in ``folder``, each written atomically."""
    folder = Path(folder)
    return {
        "program.json": forest.save(folder / "program.json"),
        "program.txt": write_text(folder / "program.txt", program_text(forest)),
        "policy.py": write_text(folder / "policy.py", policy_source(forest)),
    }
