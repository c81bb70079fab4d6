"""Stage III's search: evolve forests on their return, tune constants with PPO, pick the output.

1. The first population is the distilled forest, mutated copies of it and, for a share
   ``fresh_share``, forests grown afresh (gplearn's ramped half and half): a distilled forest can
   sit far from any good player when the teacher's labels are noisy in object space, and fresh
   forests let the reward find simple players the distillation missed. Good players are rare
   among random forests (about 1 in 70 on built-in Pong), so ``fresh_pool`` forests are grown and
   screened on the fitness episodes, and the best of them join (over-initialisation). Pursuit
   forests (``gplearn_custom.rl.pursuit``, built by the caller) are screened with them.
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

Everything random comes from one ``RandomState``. The loop, its members and checkpoints are
``gplearn_custom.evolution``'s, shared with the distiller; the polish is saved too, and a resumed
run ends where an uninterrupted one does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.config import to_dict
from common.seeds import draw_selection_seeds
from gplearn_custom.evolution import CHECKPOINT_FORMAT, Evolution, LoopSettings, Member
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import Node, ProgramSettings, function_set
from gplearn_custom.language.variation import Variation
from gplearn_custom.rl.config import FinetuneConfig
from gplearn_custom.rl.fitness import episode_returns, fitness, selection_returns
from gplearn_custom.rl.lockstep import Lockstep
from gplearn_custom.rl.ppo import ConstantTuner, with_biases

MUTATIONS = ("subtree", "hoist", "point", "constant")


@dataclass
class FinetuneResult:
    forest: SymbolicForest
    chosen: str  # "distilled", "evolved-K" (K-th best of the last generation) or "polished"
    selection: dict[str, dict]  # per candidate: return, fitness and lineage on held-out training episodes
    history: list[dict] = field(default_factory=list)  # per generation statistics
    ppo_updates: int = 0
    env_steps: int = 0


class RewardEvolution(Evolution):
    """Runs steps 1-4 above; ``tuner=None`` leaves PPO out (reward fitness only).

    ``game`` plays the fitness episodes; ``selection_game`` (default: the same) the selection's, so
    a search on a game's own objects can still choose its output through the agent's perception.
    """

    def __init__(self, cfg: FinetuneConfig, distilled: SymbolicForest, game: Lockstep,
                 tuner: ConstantTuner | None, exclude_seeds: Collection[int], seed: int,
                 selection_game: Lockstep | None = None, pursuit: Sequence[list[list[Node]]] = ()):
        self.cfg = cfg
        self.pursuit = list(pursuit)
        self.distilled = distilled
        self.game = game
        self.selection_game = selection_game or game
        self.tuner = tuner
        self.exclude = set(exclude_seeds)
        self.seed = seed
        self._variation = Variation(ProgramSettings(
            function_set(distilled.function_names), len(distilled.feature_names), tuple(cfg.init_depth),
            const_range=tuple(cfg.const_range), p_point_replace=cfg.p_point_replace,
            feature_names=list(distilled.feature_names),
        ))
        self._names = (distilled.feature_names, distilled.action_names, distilled.function_names,
                       distilled.feature_spec)
        self._loop = LoopSettings(
            cfg.population_size, cfg.generations, cfg.tournament_size, cfg.elitism, cfg.max_program_size,
            [cfg.p_crossover, cfg.p_subtree_mutation, cfg.p_hoist_mutation, cfg.p_point_mutation,
             cfg.p_constant_mutation], fixed_fitness=False)

    # ----------------------------------------------------------------------------- run

    def run(self, checkpoint: Path | None = None, on_generation: Callable[[dict], None] | None = None,
            on_update: Callable[[int, dict], None] | None = None) -> FinetuneResult:
        self._rng = np.random.RandomState(self.seed)
        self.updates, self.env_steps, self.polished = 0, 0, None
        self.on_update = on_update
        population = self._evolve(checkpoint, on_generation)
        finalists = self._finalists(population)
        if self.polished is None:
            self.polished = self._tune(self.forest(finalists[0]), self.cfg.polish_updates)
            if checkpoint is not None:
                self._save(checkpoint, population, self.cfg.generations - 1, False)
        evolved = {f"evolved-{i + 1}": member for i, member in enumerate(finalists)}
        candidates = {"distilled": Member.of(self.distilled, "distilled", "distilled, unchanged"),
                      **evolved, "polished": Member.of(self.polished, "ppo", finalists[0].lineage)}
        return self._select(candidates)

    def _finalists(self, population: list[Member]) -> list[Member]:
        """The last generation's ``selection_candidates`` best distinct forests, best first."""
        finalists: dict[tuple, Member] = {}
        for i in self.ranked(population):
            finalists.setdefault(population[i].key, population[i])
        return list(finalists.values())[: self.cfg.selection_candidates]

    def _select(self, candidates: dict[str, Member]) -> FinetuneResult:
        """Whole games on held-out training seeds; on equal scores the earlier (least changed) candidate."""
        forests = [self.forest(m) for m in candidates.values()]
        steps = self.selection_game.steps
        returns = selection_returns(forests, self._rng, self.cfg.selection_episodes, self.exclude,
                                    self.selection_game, self.cfg.selection_max_steps)
        self.env_steps += self.selection_game.steps - steps
        scores = fitness(returns, [f.size for f in forests], self.cfg.parsimony_coefficient)
        chosen = int(np.argmax(scores))
        selection = {name: {"return_mean": float(r.mean()), "fitness": float(s), "size": m.size,
                            "lineage": m.lineage}
                     for name, m, r, s in zip(candidates, candidates.values(), returns, scores, strict=True)}
        return FinetuneResult(forests[chosen], list(candidates)[chosen], selection, self._history,
                              self.updates, self.env_steps)

    def _play(self, members: list[Member], seeds: list[int], max_steps: int, game: Lockstep) -> np.ndarray:
        """Returns (len(members), len(seeds)); equal forests (elites, reproductions) play once."""
        index: dict[tuple, int] = {}
        unique: list[SymbolicForest] = []
        for member in members:
            if member.key not in index:
                index[member.key] = len(unique)
                unique.append(self.forest(member))
        steps = game.steps
        returns = episode_returns(unique, seeds, game, max_steps, self.cfg.end_on_loss)
        self.env_steps += game.steps - steps
        return returns[[index[m.key] for m in members]]

    # ----------------------------------------------------------------------------- the fitness plugged in

    def _initial(self) -> list[Member]:
        """The distilled forest, fresh forests (``fresh_share``) and copies changed by one mutation."""
        cfg = self.cfg
        weights = np.array([cfg.p_subtree_mutation, cfg.p_hoist_mutation, cfg.p_point_mutation,
                            cfg.p_constant_mutation])
        population = [Member.of(self.distilled, "distilled")]
        n_fresh = min(int(round(cfg.fresh_share * cfg.population_size)), cfg.population_size - 1)
        population += self._screened_fresh(n_fresh)
        while len(population) < cfg.population_size:
            method = MUTATIONS[self._rng.choice(4, p=weights / weights.sum())]
            action = self._rng.randint(self.distilled.n_actions)
            population.append(self._vary(population[0], action, method, None))
        return population

    def _screened_fresh(self, n: int) -> list[Member]:
        """The ``n`` best of ``max(n, fresh_pool)`` fresh forests and the pursuit forests on ``episodes``
        fitness episodes."""
        if n == 0:
            return []
        pool = [self._fresh() for _ in range(max(n, self.cfg.fresh_pool))]
        pool += [Member([list(p) for p in programs], self.distilled.scale, "pursuit", "pursuit")
                 for programs in self.pursuit]
        if len(pool) == n:
            return pool
        seeds = draw_selection_seeds(self._rng, self.cfg.episodes, self.exclude)
        returns = self._play(pool, seeds, self.cfg.max_episode_steps, self.game)
        scores = fitness(returns, [m.size for m in pool], self.cfg.parsimony_coefficient)
        return [pool[i] for i in np.argsort(-scores, kind="stable")[:n]]

    def _fresh(self) -> Member:
        """A forest grown from scratch, one program per action, within the size limit."""
        programs = []
        for _ in range(self.distilled.n_actions):
            nodes = self._grow_strictly()
            programs.append(list(nodes))
        return Member(programs, self.distilled.scale, "fresh", "fresh")

    def _grow_strictly(self) -> list:
        while True:
            nodes = self._grow()
            if len(nodes) <= self.cfg.max_program_size:
                return nodes

    def _special_child(self, parent: Member) -> Member | None:
        """PPO on the winner's constants, with probability ``p_ppo``."""
        if self._rng.uniform() < self.cfg.p_ppo and self.tuner is not None:
            return Member.of(self._tune(self.forest(parent), self.cfg.ppo_updates), "ppo", parent.lineage)
        return None

    def _tune(self, forest: SymbolicForest, updates: int) -> SymbolicForest:
        """PPO on the constants; none to tune (even after adding biases) leaves the forest as it is,
        since the scale alone does not change greedy play."""
        biased = with_biases(forest, self.cfg.max_program_size)
        if self.tuner is None or updates == 0 or not any(biased.constants()):
            return forest
        steps = self.tuner.game.steps
        tuned = self.tuner.tune(biased, updates, self.updates, self._rng, self.on_update)
        self.updates += updates
        self.env_steps += self.tuner.game.steps - steps
        return tuned

    def _evaluate(self, population: list[Member]) -> None:
        """Fitness of every member on this generation's episodes."""
        seeds = draw_selection_seeds(self._rng, self.cfg.episodes, self.exclude)
        self._fitness_seeds = seeds
        returns = self._play(population, seeds, self.cfg.max_episode_steps, self.game)
        scores = fitness(returns, [m.size for m in population], self.cfg.parsimony_coefficient)
        for member, row, score in zip(population, returns, scores, strict=True):
            member.measures, member.fitness = {"mean_return": float(row.mean())}, float(score)

    def _stats(self, population: list[Member], generation: int, seconds: float, work: int) -> dict:
        best = self.best_of(population)
        origins: dict[str, int] = {}
        lineages: dict[str, int] = {}
        for member in population:
            origins[member.origin] = origins.get(member.origin, 0) + 1
            lineages[member.lineage] = lineages.get(member.lineage, 0) + 1
        return {
            "generation": generation,
            "best_return": best.measures["mean_return"],
            "best_fitness": best.fitness,
            "best_size": best.size,
            "best_origin": best.origin,
            "best_lineage": best.lineage,
            "mean_return": float(np.mean([m.measures["mean_return"] for m in population])),
            "mean_size": float(np.mean([m.size for m in population])),
            "origins": origins,
            "lineages": lineages,
            "ppo_updates": self.updates,
            "env_steps": self.env_steps,
            "fitness_steps": work,
            "episode_seeds": self._fitness_seeds,
            "seconds": seconds,
        }

    def _work(self) -> int:
        return self.game.steps

    # ----------------------------------------------------------------------------- checkpoints

    def signature(self) -> str:
        """Fingerprint of the starting forest, the settings and the seed."""
        state = [self.distilled.to_json(), to_dict(self.cfg), self.seed, CHECKPOINT_FORMAT]
        text = json.dumps(state, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    _signature = signature

    def _checkpoint_extra(self) -> dict:
        return {"polished": None if self.polished is None else Member.of(self.polished, "ppo").to_json(),
                "value": None if self.tuner is None else self.tuner.value_state(),
                "ppo_updates": self.updates, "env_steps": self.env_steps}

    def _restore_extra(self, state: dict) -> None:
        if self.tuner is not None and state["value"] is not None:
            self.tuner.load_value_state(state["value"])
        self.updates, self.env_steps = int(state["ppo_updates"]), int(state["env_steps"])
        if state["polished"] is not None:
            self.polished = self.forest(Member.from_json(state["polished"]))
