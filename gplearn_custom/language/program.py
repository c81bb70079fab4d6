"""Programs as gplearn represents them, and a fast evaluator for a whole population.

A program is gplearn's flat prefix list: ``_Function`` nodes, ``int`` feature indices and
``float`` constants; ``gplearn_custom.language.variation`` grows and varies them as gplearn does.
``ProgramEvaluator`` runs programs on a fixed feature matrix and caches the outputs of subtrees:
offspring share most of their subtrees with their parents, so a child usually costs only the
operations on the path to the changed node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from gplearn.functions import _Function

from gplearn_custom.language.operators import OPERATORS

Node = _Function | int | float
T = TypeVar("T")
FUNCTIONS: dict[str, _Function] = {name: op.gplearn() for name, op in OPERATORS.items()}


def subtree_ends(program: Sequence[Node]) -> list[int]:
    """``ends[i]``: one past the last node of the subtree that starts at ``i``."""
    ends = [0] * len(program)
    stack: list[int] = []
    for i in range(len(program) - 1, -1, -1):
        node = program[i]
        if isinstance(node, _Function):
            for _ in range(node.arity):
                ends[i] = stack.pop()
        else:
            ends[i] = i + 1
        stack.append(ends[i])
    return ends


def fold(program: Sequence[Node], function: Callable[[_Function, list[T]], T],
         feature: Callable[[int], T], constant: Callable[[float], T]) -> T:
    """The program's tree folded bottom-up: ``function(node, arguments)`` at operators,
    ``feature(index)`` and ``constant(value)`` at the leaves (printing, compiling)."""
    ends = subtree_ends(program)

    def build(i: int) -> T:
        node = program[i]
        if isinstance(node, _Function):
            args, j = [], i + 1
            for _ in range(node.arity):
                args.append(build(j))
                j = ends[j]
            return function(node, args)
        return feature(node) if isinstance(node, int) else constant(node)

    return build(0)


def to_tokens(program: Sequence[Node], feature_names: Sequence[str] | None = None) -> list:
    """JSON-ready prefix list: operator names, feature indices (or names) and constants."""
    out: list = []
    for node in program:
        if isinstance(node, _Function):
            out.append(node.name)
        elif isinstance(node, int):
            out.append(feature_names[node] if feature_names is not None else node)
        else:
            out.append(float(node))
    return out


def from_tokens(tokens: Sequence, feature_names: Sequence[str] | None = None) -> list[Node]:
    """Inverse of ``to_tokens``; raises ``ValueError`` on unknown names or an incomplete program."""
    index = {name: i for i, name in enumerate(feature_names or ())}
    program: list[Node] = []
    for token in tokens:
        if isinstance(token, str):
            if token in FUNCTIONS:
                program.append(FUNCTIONS[token])
            elif token in index:
                program.append(index[token])
            else:
                raise ValueError(f"unknown operator or feature '{token}' in a program")
        elif isinstance(token, bool):
            raise ValueError(f"invalid program token {token!r}")
        elif isinstance(token, int):
            program.append(int(token))
        else:
            program.append(float(token))
    open_slots = 1  # arguments still expected
    for node in program:
        if open_slots == 0:
            open_slots = -1  # nodes after a complete program
            break
        open_slots += (node.arity if isinstance(node, _Function) else 0) - 1
    if open_slots != 0:
        raise ValueError("incomplete program: operators and arguments do not match")
    return program


def cache_key(program: Sequence[Node]) -> tuple:
    """Hashable identity of a program (features and constants cannot collide)."""
    return tuple(n.name if isinstance(n, _Function) else f"X{n}" if isinstance(n, int) else n
                 for n in program)


@dataclass
class ProgramSettings:
    """What growing and varying the programs of one run needs (gplearn's ``_Program`` settings)."""

    function_set: list[_Function]
    n_features: int
    init_depth: tuple[int, int] = (2, 4)
    init_method: str = "half and half"
    const_range: tuple[float, float] | None = (-1.0, 1.0)
    p_point_replace: float = 0.05
    feature_names: list[str] | None = None
    arities: dict[int, list[_Function]] = field(init=False)

    def __post_init__(self) -> None:
        self.arities = {}
        for function in self.function_set:
            self.arities.setdefault(function.arity, []).append(function)


class ProgramEvaluator:
    """Evaluates programs on one feature matrix, caching subtree outputs across calls.

    The cache holds two generations of dicts (recent and older); a hit in the older one is
    promoted, and when the recent one is full the older one is dropped, which bounds memory to
    about ``cache_mb`` while keeping whatever the population still uses. ``cache_mb=0`` turns
    caching off. Outputs are read-only arrays shared with the cache.
    """

    def __init__(self, X: np.ndarray, cache_mb: float = 256.0):
        self.columns = np.array(np.asarray(X, dtype=np.float64).T, order="C")
        self.columns.flags.writeable = False
        self.n_samples = self.columns.shape[1]
        per_entry = 8 * max(self.n_samples, 1)
        self.capacity = int(cache_mb * 2**20 / per_entry / 2) if cache_mb > 0 else 0
        self._recent: dict[tuple, np.ndarray] = {}
        self._older: dict[tuple, np.ndarray] = {}
        self.operations = 0  # operator calls actually computed (for benchmarks)

    def __call__(self, program: Sequence[Node], key: tuple | None = None) -> np.ndarray:
        """``key``: the program's ``cache_key`` where the caller already has it."""
        ends = subtree_ends(program)
        keys = (key or cache_key(program)) if self.capacity else None
        with np.errstate(all="ignore"):
            value = self._eval(program, keys, ends, 0)
        if np.ndim(value) == 0:
            value = np.full(self.n_samples, float(value))
            value.flags.writeable = False
        return value

    def _eval(self, program: Sequence[Node], keys: tuple | None, ends: list[int], i: int):
        node = program[i]
        if isinstance(node, int):
            return self.columns[node]
        if not isinstance(node, _Function):
            return node
        key = keys[i:ends[i]] if keys is not None else None
        if key is not None:
            hit = self._lookup(key)
            if hit is not None:
                return hit
        args, j = [], i + 1
        for _ in range(node.arity):
            args.append(self._eval(program, keys, ends, j))
            j = ends[j]
        value = node.function(*args)
        self.operations += 1
        if np.ndim(value) == 0:
            return value
        value.flags.writeable = False
        if key is not None:
            self._store(key, value)
        return value

    def _lookup(self, key: tuple) -> np.ndarray | None:
        hit = self._recent.get(key)
        if hit is None:
            hit = self._older.pop(key, None)
            if hit is not None:
                self._store(key, hit)
        return hit

    def _store(self, key: tuple, value: np.ndarray) -> None:
        if len(self._recent) >= self.capacity:
            self._older, self._recent = self._recent, {}
        self._recent[key] = value


def execute(program: Sequence[Node], X: np.ndarray) -> np.ndarray:
    """One program on a feature matrix, without caching (for play and for checks)."""
    return ProgramEvaluator(X, cache_mb=0)(program)


def function_set(names: Sequence[str]) -> list[_Function]:
    """gplearn function nodes of the named operators (see ``gplearn_custom.language.operators``)."""
    unknown = [n for n in names if n not in FUNCTIONS]
    if unknown:
        raise ValueError(f"unknown operator(s) {unknown}; valid: {sorted(FUNCTIONS)}")
    return [FUNCTIONS[n] for n in names]
