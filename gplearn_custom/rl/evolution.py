"""Stage III's search: evolve forests on their return, tune constants with PPO, pick the output.

1. The first population is the distilled forest, mutated copies of it and, for a share
   ``fresh_share``, forests grown afresh (gplearn's ramped half and half): a distilled forest can
   sit far from any good player when the teacher's labels are noisy in object space, and fresh
   forests let the reward find simple players the distillation missed. Good players are rare
   among random forests (about 1 in 70 on built-in Pong), so ``fresh_pool`` forests are grown and
   screened on the fitness episodes, and the best of them join (over-initialisation).
2. Each generation every forest plays the same fresh episodes (reward fitness: mean return minus
   parsimony per node; episodes cut at a step cap). Elites pass unchanged (and play again on the
   new episodes); the other children come from tournament winners through one operator each:
   PPO on the constants (probability ``p_ppo``; a program without constants first gets a bias, see
   ``ppo.with_biases``), one of gplearn's
   (crossover with another winner's program for the same action, subtree, hoist, point or
   constant mutation), or plain reproduction.
3. The best forest of the last generation is polished by PPO.
4. The output is the best of the distilled forest, the last generation's best few and the
   polished one, in whole games on held-out training seeds (never the evaluation seeds); on a tie
   the earlier one, so fine-tuning never hands back a forest that played worse there than the one
   it started from.

Everything random comes from one ``RandomState``; with a checkpoint path, the state is saved
atomically after every generation and after the polish, and a resumed run ends where an
uninterrupted one does.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.config import to_dict
from common.errors import UserError
from common.io import read_json, write_json
from gplearn_custom.forest import SymbolicForest
from gplearn_custom.program import PolicyProgram, ProgramSettings, from_tokens, function_set, to_tokens
from gplearn_custom.rl.config import FinetuneConfig
from gplearn_custom.rl.fitness import draw_seeds, episode_returns, fitness
from gplearn_custom.rl.lockstep import Lockstep
from gplearn_custom.rl.ppo import ConstantTuner, with_biases


@dataclass
class Member:
    forest: SymbolicForest
    origin: str  # the operator that made it
    mean_return: float = float("nan")
    fitness: float = float("nan")
    # where its programs come from: "distilled" (the distilled forest, unchanged or changed by
    # operators), "fresh" (grown afresh, then changed), "mixed" (crossover of the two)
    lineage: str = "distilled"

    @property
    def key(self) -> str:
        return _key(self.forest)


@dataclass
class FinetuneResult:
    forest: SymbolicForest
    chosen: str  # "distilled", "evolved-K" (K-th best of the last generation) or "polished"
    selection: dict[str, dict]  # per candidate: return, fitness and lineage on held-out training episodes
    history: list[dict] = field(default_factory=list)  # per generation statistics
    ppo_updates: int = 0
    env_steps: int = 0


class RewardEvolution:
    """Runs steps 1-4 above; ``tuner=None`` leaves PPO out (reward fitness only).

    ``game`` plays the fitness episodes; ``selection_game`` (default: the same) the selection's, so
    a search on a game's own objects can still choose its output through the agent's perception.
    """

    def __init__(self, cfg: FinetuneConfig, distilled: SymbolicForest, game: Lockstep,
                 tuner: ConstantTuner | None, exclude_seeds: Collection[int], seed: int,
                 selection_game: Lockstep | None = None):
        self.cfg = cfg
        self.distilled = distilled
        self.game = game
        self.selection_game = selection_game or game
        self.tuner = tuner
        self.exclude = set(exclude_seeds)
        self.seed = seed
        self.settings = ProgramSettings(
            function_set(distilled.function_names), len(distilled.feature_names), tuple(cfg.init_depth),
            const_range=tuple(cfg.const_range), p_point_replace=cfg.p_point_replace,
            feature_names=list(distilled.feature_names),
        )

    # ----------------------------------------------------------------------------- run

    def run(self, checkpoint: Path | None = None, on_generation: Callable[[dict], None] | None = None,
            on_update: Callable[[int, dict], None] | None = None) -> FinetuneResult:
        self.rng = np.random.RandomState(self.seed)
        self.updates, self.env_steps, self.history = 0, 0, []
        self.on_update = on_update
        population, start, polished = None, 0, None
        if checkpoint is not None and checkpoint.is_file():
            population, start, polished = self._load(checkpoint)
        for generation in range(start, self.cfg.generations):
            began, steps = time.perf_counter(), self.game.steps
            population = self._initial() if population is None else self._breed(population)
            self._evaluate(population)
            stats = self._record(population, generation, time.perf_counter() - began, self.game.steps - steps)
            self._save(checkpoint, population, generation, None)
            if on_generation is not None:
                on_generation(stats)
        finalists = self._finalists(population)
        if polished is None:
            polished = self._tune(finalists[0].forest, self.cfg.polish_updates)
            self._save(checkpoint, population, self.cfg.generations - 1, polished)
        evolved = {f"evolved-{i + 1}": member for i, member in enumerate(finalists)}
        candidates = {"distilled": Member(self.distilled, "distilled", lineage="distilled, unchanged"),
                      **evolved, "polished": Member(polished, "ppo", lineage=finalists[0].lineage)}
        return self._select(candidates)

    def _finalists(self, population: list[Member]) -> list[Member]:
        """The last generation's ``selection_candidates`` best distinct forests, best first."""
        finalists: dict[str, Member] = {}
        for i in np.argsort([-m.fitness for m in population], kind="stable"):
            finalists.setdefault(population[i].key, population[i])
        return list(finalists.values())[: self.cfg.selection_candidates]

    def _select(self, candidates: dict[str, Member]) -> FinetuneResult:
        """Whole games on held-out training seeds; on equal scores the earlier (least changed) candidate."""
        seeds = draw_seeds(self.rng, self.cfg.selection_episodes, self.exclude)
        forests = [m.forest for m in candidates.values()]
        returns = self._play(forests, seeds, self.cfg.selection_max_steps, self.selection_game)
        scores = fitness(returns, [f.size for f in forests], self.cfg.parsimony_coefficient)
        chosen = int(np.argmax(scores))
        selection = {name: {"return_mean": float(r.mean()), "fitness": float(s), "size": m.forest.size,
                            "lineage": m.lineage}
                     for name, m, r, s in zip(candidates, candidates.values(), returns, scores, strict=True)}
        return FinetuneResult(forests[chosen], list(candidates)[chosen], selection, self.history,
                              self.updates, self.env_steps)

    def _play(self, forests: list[SymbolicForest], seeds: list[int], max_steps: int,
              game: Lockstep) -> np.ndarray:
        """Returns (len(forests), len(seeds)); equal forests (elites, reproductions) play once."""
        index: dict[str, int] = {}
        unique: list[SymbolicForest] = []
        for forest in forests:
            key = _key(forest)
            if key not in index:
                index[key] = len(unique)
                unique.append(forest)
        steps = game.steps
        returns = episode_returns(unique, seeds, game, max_steps)
        self.env_steps += game.steps - steps
        return returns[[index[_key(f)] for f in forests]]

    # ----------------------------------------------------------------------------- generations

    def _initial(self) -> list[Member]:
        """The distilled forest, fresh forests (``fresh_share``) and copies changed by one mutation."""
        cfg = self.cfg
        weights = np.array([cfg.p_subtree_mutation, cfg.p_hoist_mutation, cfg.p_point_mutation,
                            cfg.p_constant_mutation])
        population = [Member(self.distilled, "distilled")]
        n_fresh = min(int(round(cfg.fresh_share * cfg.population_size)), cfg.population_size - 1)
        population += self._screened_fresh(n_fresh)
        while len(population) < cfg.population_size:
            method = ("subtree", "hoist", "point", "constant")[self.rng.choice(4, p=weights / weights.sum())]
            population.append(self._vary(population[0], method, None))
        return population

    def _screened_fresh(self, n: int) -> list[Member]:
        """The ``n`` best of ``max(n, fresh_pool)`` fresh forests on ``episodes`` fitness episodes."""
        if n == 0:
            return []
        pool = [self._fresh() for _ in range(max(n, self.cfg.fresh_pool))]
        if len(pool) == n:
            return pool
        seeds = draw_seeds(self.rng, self.cfg.episodes, self.exclude)
        returns = self._play([m.forest for m in pool], seeds, self.cfg.max_episode_steps, self.game)
        scores = fitness(returns, [m.forest.size for m in pool], self.cfg.parsimony_coefficient)
        return [pool[i] for i in np.argsort(-scores, kind="stable")[:n]]

    def _fresh(self) -> Member:
        """A forest grown from scratch, one program per action, within the size limit."""
        programs = []
        for _ in range(self.distilled.n_actions):
            nodes = PolicyProgram(self.settings, self.rng).program
            while len(nodes) > self.cfg.max_program_size:
                nodes = PolicyProgram(self.settings, self.rng).program
            programs.append(list(nodes))
        d = self.distilled
        return Member(SymbolicForest(programs, d.feature_names, d.action_names, d.function_names,
                                     d.feature_spec, d.scale), "fresh", lineage="fresh")

    def _breed(self, parents: list[Member]) -> list[Member]:
        cfg = self.cfg
        scores = np.array([m.fitness for m in parents])
        order = np.argsort(-scores, kind="stable")
        children = [Member(parents[i].forest, "elite", lineage=parents[i].lineage)
                    for i in order[: cfg.elitism]]
        thresholds = np.cumsum([cfg.p_crossover, cfg.p_subtree_mutation, cfg.p_hoist_mutation,
                                cfg.p_point_mutation, cfg.p_constant_mutation])
        methods = ("crossover", "subtree", "hoist", "point", "constant")
        while len(children) < cfg.population_size:
            parent = parents[self._tournament(scores)]
            if self.rng.uniform() < cfg.p_ppo and self.tuner is not None:
                tuned = self._tune(parent.forest, cfg.ppo_updates)
                children.append(Member(tuned, "ppo", lineage=parent.lineage))
                continue
            draw = self.rng.uniform()
            chosen = int(np.searchsorted(thresholds, draw, side="right"))
            if chosen == len(methods):
                children.append(Member(parent.forest, "reproduction", lineage=parent.lineage))
                continue
            donor = parents[self._tournament(scores)] if methods[chosen] == "crossover" else None
            children.append(self._vary(parent, methods[chosen], donor))
        return children

    def _vary(self, parent: Member, method: str, donor: Member | None) -> Member:
        """One gplearn operator on one action's program; an oversized result keeps the parent."""
        forest = parent.forest
        lineage = parent.lineage if donor is None or donor.lineage == parent.lineage else "mixed"
        action = self.rng.randint(forest.n_actions)
        program = PolicyProgram(self.settings, None, list(forest.programs[action]))
        if method == "crossover":
            nodes = program.crossover(list(donor.forest.programs[action]), self.rng)[0]
        elif method == "subtree":
            nodes = program.subtree_mutation(self.rng)[0]
        elif method == "hoist":
            nodes = program.hoist_mutation(self.rng)[0]
        elif method == "point":
            nodes = program.point_mutation(self.rng)[0]
        else:
            nodes = program.constant_mutation(self.rng)
        if len(nodes) > self.cfg.max_program_size:
            return Member(forest, "reproduction", lineage=parent.lineage)
        programs = list(forest.programs)
        programs[action] = list(nodes)
        child = SymbolicForest(programs, forest.feature_names, forest.action_names, forest.function_names,
                               forest.feature_spec, forest.scale)
        return Member(child, method, lineage=lineage)

    def _tournament(self, scores: np.ndarray) -> int:
        contenders = self.rng.randint(0, len(scores), self.cfg.tournament_size)
        return int(contenders[np.argmax(scores[contenders])])

    def _tune(self, forest: SymbolicForest, updates: int) -> SymbolicForest:
        """PPO on the constants; none to tune (even after adding biases) leaves the forest as it is,
        since the scale alone does not change greedy play."""
        biased = with_biases(forest, self.cfg.max_program_size)
        if self.tuner is None or updates == 0 or not any(biased.constants()):
            return forest
        steps = self.tuner.game.steps
        tuned = self.tuner.tune(biased, updates, self.updates, self.rng, self.on_update)
        self.updates += updates
        self.env_steps += self.tuner.game.steps - steps
        return tuned

    def _evaluate(self, population: list[Member]) -> None:
        """Fitness of every member on this generation's episodes."""
        seeds = draw_seeds(self.rng, self.cfg.episodes, self.exclude)
        forests = [m.forest for m in population]
        returns = self._play(forests, seeds, self.cfg.max_episode_steps, self.game)
        scores = fitness(returns, [f.size for f in forests], self.cfg.parsimony_coefficient)
        for member, row, score in zip(population, returns, scores, strict=True):
            member.mean_return, member.fitness = float(row.mean()), float(score)

    @staticmethod
    def _best(population: list[Member]) -> Member:
        return population[int(np.argmax([m.fitness for m in population]))]

    def _record(self, population: list[Member], generation: int, seconds: float, steps: int) -> dict:
        best = self._best(population)
        origins: dict[str, int] = {}
        lineages: dict[str, int] = {}
        for member in population:
            origins[member.origin] = origins.get(member.origin, 0) + 1
            lineages[member.lineage] = lineages.get(member.lineage, 0) + 1
        stats = {
            "generation": generation,
            "best_return": best.mean_return,
            "best_fitness": best.fitness,
            "best_size": best.forest.size,
            "best_origin": best.origin,
            "best_lineage": best.lineage,
            "mean_return": float(np.mean([m.mean_return for m in population])),
            "mean_size": float(np.mean([m.forest.size for m in population])),
            "origins": origins,
            "lineages": lineages,
            "ppo_updates": self.updates,
            "env_steps": self.env_steps,
            "fitness_steps": steps,
            "seconds": seconds,
        }
        self.history.append(stats)
        return stats

    # ----------------------------------------------------------------------------- checkpoints

    def signature(self) -> str:
        """Fingerprint of the starting forest, the settings and the seed."""
        state = [self.distilled.to_json(), to_dict(self.cfg), self.seed]
        text = json.dumps(state, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _save(self, path: Path | None, population: list[Member], generation: int,
              polished: SymbolicForest | None) -> None:
        if path is None:
            return
        name, keys, pos, has_gauss, cached = self.rng.get_state()
        write_json(path, {
            "signature": self.signature(),
            "generation": generation,
            "rng": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            "population": [{**_tokens(m.forest), "origin": m.origin, "mean_return": m.mean_return,
                            "fitness": m.fitness, "lineage": m.lineage} for m in population],
            "polished": None if polished is None else _tokens(polished),
            "value": None if self.tuner is None else self.tuner.value_state(),
            "ppo_updates": self.updates,
            "env_steps": self.env_steps,
            "history": self.history,
        })

    def _load(self, path: Path) -> tuple[list[Member], int, SymbolicForest | None]:
        state = read_json(path)
        if state.get("signature") != self.signature():
            raise UserError(f"{path} was made with another distilled forest or other settings; "
                            "pass --force to start over")
        name, keys, pos, has_gauss, cached = state["rng"]
        self.rng.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
        population = [Member(self._forest(m), m["origin"], m["mean_return"], m["fitness"], m["lineage"])
                      for m in state["population"]]
        if self.tuner is not None and state["value"] is not None:
            self.tuner.load_value_state(state["value"])
        self.updates, self.env_steps = int(state["ppo_updates"]), int(state["env_steps"])
        self.history = list(state["history"])
        polished = None if state["polished"] is None else self._forest(state["polished"])
        return population, int(state["generation"]) + 1, polished

    def _forest(self, data: dict) -> SymbolicForest:
        d = self.distilled
        return SymbolicForest([from_tokens(t) for t in data["programs"]], d.feature_names, d.action_names,
                              d.function_names, d.feature_spec, float(data["scale"]))


def _key(forest: SymbolicForest) -> str:
    return json.dumps([[to_tokens(p) for p in forest.programs], forest.scale])


def _tokens(forest: SymbolicForest) -> dict:
    return {"programs": [to_tokens(p) for p in forest.programs], "scale": forest.scale}
