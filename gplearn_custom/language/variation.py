"""Growing and varying programs: gplearn's operators, with gplearn's results, at twice the speed.

``Variation`` grows a random program (gplearn's "half and half" initialisation) and makes a child
by crossover, subtree, hoist or point mutation as gplearn's ``_Program`` does: it asks the random
state for the same numbers in the same order and uses them the same way, so the same seed gives the
same programs (tested against gplearn itself). What it does not repeat is gplearn's per-call
overhead: the cumulative crossover-point weights (Koza's 90 % operators, 10 % leaves) are built by
numpy once per shape of program and kept, not rebuilt on every call, and nothing is computed for
gplearn's plotting (the removed nodes). ``constant_mutation`` is ours: a local search on constants.

The random state may be a ``RandomState`` or ``gplearn_custom.draws.BufferedDraws``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np
from gplearn.functions import _Function

from gplearn_custom.language.program import Node, ProgramSettings

FUNCTION_WEIGHT, TERMINAL_WEIGHT = 0.9, 0.1  # Koza's (1992) choice of crossover points, as gplearn's
_MAX_SHAPES = 20_000  # cached weight tables, about 1 kB each (a default restart uses under 2,000)


class Variation:
    """A run's program operators; each returns a new list and leaves its arguments unchanged."""

    def __init__(self, settings: ProgramSettings):
        self.settings = settings
        self._cumulative: dict[tuple, list[float]] = {}

    def grow(self, rng) -> list[Node]:
        """A random program: a function at the root, then each open argument filled top-down, a
        function (up to the depth drawn) or a terminal. "full" fills with functions until the
        depth, "grow" picks among functions and terminals; "half and half" draws one of the two."""
        s = self.settings
        functions, n_features = s.function_set, s.n_features
        method = s.init_method
        if method == "half and half":
            method = "full" if rng.randint(2) else "grow"
        max_depth = rng.randint(s.init_depth[0], s.init_depth[1] + 1)  # both ends included
        root = functions[rng.randint(len(functions))]
        program: list[Node] = [root]
        open_arguments = [root.arity]  # per level of the path being filled: arguments still to fill
        while open_arguments:
            pick = rng.randint(n_features + len(functions))
            if len(open_arguments) < max_depth and (method == "full" or pick <= len(functions)):
                function = functions[rng.randint(len(functions))]
                program.append(function)
                open_arguments.append(function.arity)
                continue
            program.append(self._terminal(rng))
            open_arguments[-1] -= 1
            while open_arguments and open_arguments[-1] == 0:
                open_arguments.pop()
                if open_arguments:
                    open_arguments[-1] -= 1
        return program

    def crossover(self, program: Sequence[Node], donor: Sequence[Node], rng) -> list[Node]:
        """A random subtree of ``program`` replaced by a random subtree of ``donor``."""
        start, end = self.subtree(program, rng)
        donor_start, donor_end = self.subtree(donor, rng)
        return [*program[:start], *donor[donor_start:donor_end], *program[end:]]

    def subtree_mutation(self, program: Sequence[Node], rng) -> list[Node]:
        """Crossover with a freshly grown program ("headless chicken")."""
        return self.crossover(program, self.grow(rng), rng)

    def hoist_mutation(self, program: Sequence[Node], rng) -> list[Node]:
        """A random subtree replaced by one of its own subtrees (against bloat)."""
        start, end = self.subtree(program, rng)
        inner = program[start:end]
        hoist_start, hoist_end = self.subtree(inner, rng)
        return [*program[:start], *inner[hoist_start:hoist_end], *program[end:]]

    def point_mutation(self, program: Sequence[Node], rng) -> list[Node]:
        """Each node, with probability ``p_point_replace``, replaced: a function by one of the same
        arity, a terminal by a random terminal."""
        s = self.settings
        child = list(program)
        chosen = [i for i, u in enumerate(rng.uniform(size=len(child))) if u < s.p_point_replace]
        for i in chosen:
            node = child[i]
            if isinstance(node, _Function):
                same_arity = s.arities[node.arity]
                child[i] = same_arity[rng.randint(len(same_arity))]
            else:
                child[i] = self._terminal(rng)
        return child

    def constant_mutation(self, program: Sequence[Node], rng, sigma: float = 0.5) -> list[Node]:
        """Scale every constant by exp(sigma * N(0, 1)) and shift it by 0.01 * N(0, 1), or point
        mutate a program without constants: a local search step that moves constants by orders
        of magnitude as easily as by percents, where gplearn only redraws them uniformly."""
        child = list(program)
        slots = [i for i, n in enumerate(child) if isinstance(n, float)]
        if not slots:
            return self.point_mutation(program, rng)
        for i in slots:
            scaled = child[i] * np.exp(sigma * rng.normal())
            child[i] = float(scaled + 0.01 * rng.normal())
        return child

    def subtree(self, program: Sequence[Node], rng) -> tuple[int, int]:
        """``(start, end)`` of a random subtree: its root is an operator with weight 0.9, a leaf with
        0.1, drawn by one uniform number against the cumulative weights."""
        start = bisect.bisect_left(self._weights(program), rng.uniform())
        end, needed = start, 1
        while needed > end - start:
            node = program[end]
            if isinstance(node, _Function):
                needed += node.arity
            end += 1
        return start, end

    def _weights(self, program: Sequence[Node]) -> list[float]:
        """The cumulative normalised weights of a program's shape, computed by numpy exactly as
        gplearn does (so the same uniform number picks the same node) and then kept."""
        shape = tuple(map(type, program))
        cumulative = self._cumulative.get(shape)
        if cumulative is None:
            weights = np.array([FUNCTION_WEIGHT if isinstance(n, _Function) else TERMINAL_WEIGHT
                                for n in program])
            cumulative = np.cumsum(weights / weights.sum()).tolist()
            if len(self._cumulative) >= _MAX_SHAPES:
                self._cumulative.clear()
            self._cumulative[shape] = cumulative
        return cumulative

    def _terminal(self, rng) -> int | float:
        """A feature index, or (one chance more, where constants are allowed) a constant."""
        s = self.settings
        if s.const_range is None:
            return rng.randint(s.n_features)
        index = rng.randint(s.n_features + 1)
        return rng.uniform(*s.const_range) if index == s.n_features else index
