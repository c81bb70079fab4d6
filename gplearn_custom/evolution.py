"""The one genetic-programming loop of both searches; each plugs in its fitness.

A member is a whole forest, one program per action. Each generation: the first population, or the
next bred from the last (``elitism`` best pass unchanged; the others are tournament winners
changed by one of gplearn's operators on one action's program, as re-written for speed in
``gplearn_custom.language.variation``, or copied when the operator gives a program over
``max_program_size`` nodes), then the fitness, then an optional
improvement step (constants tuned by gradient), then per-generation statistics. With a checkpoint
path the state, the random state included, is written atomically after the last generation and
after any generation that ends ``checkpoint_seconds`` or more after the last write, and a resumed
run ends exactly where an uninterrupted one does: it replays from the generation written. Stage III
writes every generation (each is whole games); the regressions write at most every ten seconds
(writing a thousand forests costs a tenth of a second, more than one of their generations).

Stage II-C plugs in imitation (``gplearn_custom.genetic.SymbolicPolicyDistiller``: cross-entropy to
the teacher, L-BFGS on constants), Stage III the return (``gplearn_custom.rl.evolution``: whole
episodes through perception, PPO on constants as an extra operator). Fitness is higher-is-better
throughout this module.
"""

from __future__ import annotations

import bisect
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.errors import UserError
from common.io import read_json, write_json
from gplearn_custom.draws import BufferedDraws
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import Node, cache_key, from_tokens, to_tokens
from gplearn_custom.language.variation import Variation

OPERATORS = ("crossover", "subtree", "hoist", "point", "constant")  # gplearn's, then ours
CHECKPOINT_FORMAT = 2  # part of each search's signature: an older checkpoint is refused, not misread


class CheckpointMismatch(UserError, ValueError):
    """A checkpoint made with other data or settings: a user's error on the command line, a
    ``ValueError`` for the estimator's callers."""


@dataclass
class Member:
    """One forest of a population: its programs, what made it, and its fitness (higher is better).

    ``lineage`` says where its programs come from: "distilled" (changed or not), "fresh" (grown
    afresh), "pursuit" (Stage III's pursuit forests) or "mixed" (a crossover of two of them).
    ``measures`` holds what the fitness measured (loss and agreement, or the mean return); ``outputs``
    the programs' cached outputs.
    """

    programs: list[list[Node]]
    scale: float = 1.0
    origin: str = "initial"
    lineage: str = "distilled"
    fitness: float = float("nan")
    measures: dict = field(default_factory=dict)
    outputs: list | None = None
    # per-program cache keys, filled on first use and passed on to children (programs never change
    # in place, and keying a program walks all its nodes in Python)
    program_keys: list | None = field(default=None, repr=False)

    @property
    def program_key(self) -> tuple:
        keys = self.program_keys
        if keys is None:
            keys = self.program_keys = [None] * len(self.programs)
        for a, key in enumerate(keys):
            if key is None:
                keys[a] = cache_key(self.programs[a])
        return tuple(keys)

    @property
    def key(self) -> tuple:
        return (*self.program_key, self.scale)

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.programs)

    @classmethod
    def of(cls, forest: SymbolicForest, origin: str, lineage: str = "distilled") -> Member:
        return cls([list(p) for p in forest.programs], forest.scale, origin, lineage)

    def changed(self, action: int, program: list[Node], origin: str, lineage: str) -> Member:
        """A child with ``action``'s program replaced; the other programs keep their cached outputs."""
        programs = list(self.programs)
        programs[action] = program
        outputs = None if self.outputs is None else list(self.outputs)
        if outputs is not None:
            outputs[action] = None
        keys = None if self.program_keys is None else list(self.program_keys)
        if keys is not None:
            keys[action] = None
        return Member(programs, self.scale, origin, lineage, outputs=outputs, program_keys=keys)

    def to_json(self) -> dict:
        return {"programs": [to_tokens(p) for p in self.programs], "scale": self.scale, "origin": self.origin,
                "lineage": self.lineage, "fitness": self.fitness, "measures": self.measures}

    @classmethod
    def from_json(cls, data: dict) -> Member:
        return cls([from_tokens(t) for t in data["programs"]], float(data["scale"]), data["origin"],
                   data["lineage"], float(data["fitness"]), dict(data["measures"]))


@dataclass
class LoopSettings:
    """What the loop itself needs; each search fills it from its own settings."""

    population_size: int
    generations: int
    tournament_size: int
    elitism: int
    max_program_size: int
    operator_probabilities: Sequence[float]  # of OPERATORS; the rest is plain reproduction
    fixed_fitness: bool  # True: a copy keeps its fitness; False: every member is judged anew each generation


class Evolution:
    """The loop; a search sets ``_loop``, ``_variation`` (the program operators), ``_rng`` and
    ``_names`` (feature, action and function names, feature spec) and fills in the hooks below.
    While a population is made (``_initial``, ``_breed`` and the hooks they call), ``_rng`` is a
    ``BufferedDraws`` over the search's ``RandomState``: the same numbers, and any method."""

    _loop: LoopSettings
    _variation: Variation
    _rng: np.random.RandomState | BufferedDraws
    _names: tuple
    checkpoint_seconds = 0.0  # the least time between two checkpoint writes (0: every generation)

    # ----------------------------------------------------------------------------- hooks

    def _initial(self) -> list[Member]:
        raise NotImplementedError

    def _evaluate(self, population: list[Member]) -> None:
        """Set the fitness of every member whose fitness is unknown (NaN)."""
        raise NotImplementedError

    def _improve(self, population: list[Member]) -> None:
        """After the fitness: an optional memetic step on the best members."""

    def _before_breeding(self, parents: list[Member], generation: int) -> tuple[list[Member], int | None]:
        """The parents to breed from and the one action every child changes (None: drawn per child)."""
        return parents, None

    def _special_child(self, parent: Member) -> Member | None:
        """An operator outside gplearn's (Stage III's PPO), drawn before them; None to use theirs."""
        return None

    def _stats(self, population: list[Member], generation: int, seconds: float, work: int) -> dict:
        raise NotImplementedError

    def _work(self) -> int:
        """A counter of work done (evaluations, environment steps) for the statistics."""
        return 0

    def _stop(self, stats: dict) -> bool:
        return False

    def _signature(self) -> str:
        raise NotImplementedError

    def _checkpoint_extra(self) -> dict:
        return {}

    def _restore_extra(self, state: dict) -> None:
        """Restore what ``_checkpoint_extra`` saved."""

    # ----------------------------------------------------------------------------- the loop

    def _evolve(self, checkpoint: Path | None, callback: Callable[[dict], None] | None,
                warm: list[Member] | None = None) -> list[Member]:
        """Run up to ``_loop.generations``; ``warm`` continues the population of an earlier call
        (its best and history kept), else a checkpoint is resumed or a new run begins."""
        population, start, stopped = warm, len(self._history) if warm else 0, False
        if warm is None:
            self._best: Member | None = None
            self._history: list[dict] = []
        if warm is None and checkpoint is not None and checkpoint.is_file():
            population, start, stopped = self._resume(checkpoint)
        saved = time.perf_counter()
        for generation in range(start, self._loop.generations):
            if stopped:
                break
            began, work = time.perf_counter(), self._work()
            draws = self._rng = BufferedDraws(self._rng)
            try:
                population = self._initial() if population is None else self._breed(population, generation)
            finally:
                self._rng = draws.release()
            self._evaluate(population)
            self._improve(population)
            best = self.best_of(population)
            if self._best is None or best.fitness > self._best.fitness:
                self._best = best
            stats = self._stats(population, generation, time.perf_counter() - began, self._work() - work)
            self._history.append(stats)
            stopped = self._stop(stats)
            last = stopped or generation == self._loop.generations - 1
            if checkpoint is not None and (last or time.perf_counter() - saved >= self.checkpoint_seconds):
                self._save(checkpoint, population, generation, stopped)
                saved = time.perf_counter()
            if callback is not None:
                callback(stats)
        if self._best is None:
            raise ValueError("no generation was run; generations must be at least 1")
        return population

    @staticmethod
    def best_of(population: list[Member]) -> Member:
        """The fittest member; the first of equals."""
        return population[int(np.argmax([m.fitness for m in population]))]

    @staticmethod
    def ranked(population: list[Member]) -> np.ndarray:
        """Indices from the fittest down; equals keep their order."""
        return np.argsort([-m.fitness for m in population], kind="stable")

    def forest(self, member: Member) -> SymbolicForest:
        feature_names, action_names, function_names, spec = self._names
        return SymbolicForest(member.programs, feature_names, action_names, function_names, spec,
                              member.scale)

    def _breed(self, parents: list[Member], generation: int) -> list[Member]:
        parents, action = self._before_breeding(parents, generation)
        loop = self._loop
        scores = [m.fitness for m in parents]
        children = [self._copy(parents[i], "elite") for i in self.ranked(parents)[: loop.elitism]]
        thresholds = np.cumsum(loop.operator_probabilities).tolist()
        while len(children) < loop.population_size:
            parent = parents[self._tournament(scores)]
            child = self._special_child(parent)
            if child is None:
                a = self._rng.randint(len(parent.programs)) if action is None else action
                chosen = bisect.bisect_right(thresholds, self._rng.uniform())
                if chosen == len(OPERATORS):
                    child = self._copy(parent, "reproduction")
                else:
                    donor = parents[self._tournament(scores)] if OPERATORS[chosen] == "crossover" else None
                    child = self._vary(parent, a, OPERATORS[chosen], donor)
            children.append(child)
        return children

    def _vary(self, parent: Member, action: int, operator: str, donor: Member | None) -> Member:
        """One operator on ``action``'s program; an oversized program copies the parent."""
        program, rng, variation = parent.programs[action], self._rng, self._variation
        if operator == "crossover":
            nodes = variation.crossover(program, donor.programs[action], rng)
        elif operator == "subtree":
            nodes = variation.subtree_mutation(program, rng)
        elif operator == "hoist":
            nodes = variation.hoist_mutation(program, rng)
        elif operator == "point":
            nodes = variation.point_mutation(program, rng)
        else:
            nodes = variation.constant_mutation(program, rng)
        if len(nodes) > self._loop.max_program_size:
            return self._copy(parent, "reproduction")
        lineage = parent.lineage if donor is None or donor.lineage == parent.lineage else "mixed"
        return parent.changed(action, nodes, operator, lineage)

    def _copy(self, member: Member, origin: str) -> Member:
        fitness = member.fitness if self._loop.fixed_fitness else float("nan")
        measures = member.measures if self._loop.fixed_fitness else {}
        return dataclasses.replace(member, origin=origin, fitness=fitness, measures=measures)

    def _tournament(self, scores: list[float]) -> int:
        """The fittest of ``tournament_size`` members drawn with replacement, the first of equals
        (as numpy's argmax: fitness is never NaN); breeding draws from ``BufferedDraws``."""
        return max(self._rng.integers(len(scores), self._loop.tournament_size), key=scores.__getitem__)

    def _grow(self) -> list[Node]:
        """A random program within the size limit (of 100 tries, else the smallest grown)."""
        smallest = None
        for _ in range(100):
            program = self._variation.grow(self._rng)
            if len(program) <= self._loop.max_program_size:
                return program
            if smallest is None or len(program) < len(smallest):
                smallest = program
        return smallest

    # ----------------------------------------------------------------------------- checkpoints

    def _save(self, path: Path, population: list[Member], generation: int, stopped: bool) -> None:
        name, keys, pos, has_gauss, cached = self._rng.get_state()
        write_json(path, {
            "signature": self._signature(),
            "generation": generation,
            "stopped": stopped,
            "rng": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            "population": [m.to_json() for m in population],
            "best": self._best.to_json(),
            "history": self._history,
            **self._checkpoint_extra(),
        })

    def _resume(self, path: Path) -> tuple[list[Member], int, bool]:
        state = read_json(path)
        if state.get("signature") != self._signature():
            raise CheckpointMismatch(f"{path} was made with other data or settings; pass --force "
                                     "(or delete it) to start over")
        name, keys, pos, has_gauss, cached = state["rng"]
        self._rng.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
        self._best = Member.from_json(state["best"])
        self._history = list(state["history"])
        self._restore_extra(state)
        population = [Member.from_json(m) for m in state["population"]]
        return population, int(state["generation"]) + 1, bool(state["stopped"])
