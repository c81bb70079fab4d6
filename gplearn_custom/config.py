"""The ``distill`` section of a config: features, genetic programming, baselines, evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from common.config import check_ranges
from common.errors import UserError

DEFAULT_FUNCTION_SET = ("add", "sub", "mul", "div", "neg", "abs", "max", "min", "gt", "ifgt")


@dataclass
class DistillConfig:
    """Stage II-C: one gplearn program per action, distilled from the teacher's labels."""

    # features (see gplearn_custom/language/features.py)
    slots: dict[str, int] = field(default_factory=dict)  # slots per type name; others: from the data
    max_slots: int = 3  # cap on slots per type when taken from the data
    # a slot is kept only if at least this share of the training states fill it, so a detector's rare
    # false positives do not become features (0: the most objects ever seen in one state)
    min_slot_share: float = 0.01
    agent_type: str | None = None  # the agent's own object type; None: the dataset meta's agent_type
    relative: bool = True  # add [dx, dy] to the agent's object for other types
    velocity_scale: float | None = None  # pixels per step that become 1.0; None: from the data
    # data
    test_fraction: float = 0.2  # held out for eval.json (whole episodes where possible)
    val_fraction: float = 0.1  # for Optuna trials and the validation curve
    max_train_states: int = 20_000  # training states the fitness is computed on (random subset)
    # genetic programming (gplearn_custom/genetic.py)
    population_size: int = 1000
    generations: int = 40
    tournament_size: int = 7
    function_set: list[str] = field(default_factory=lambda: list(DEFAULT_FUNCTION_SET))
    init_depth: list[int] = field(default_factory=lambda: [2, 4])
    const_range: list[float] = field(default_factory=lambda: [-1.0, 1.0])
    parsimony_coefficient: float = 0.002  # loss (nats) per node
    p_crossover: float = 0.6
    p_subtree_mutation: float = 0.1
    p_hoist_mutation: float = 0.05
    p_point_mutation: float = 0.1
    p_point_replace: float = 0.05
    p_constant_mutation: float = 0.1
    max_program_size: int = 30  # nodes per action's program
    elitism: int = 1
    optimize_constants: int = 1  # best forests whose constants L-BFGS tunes each generation (0: off)
    optimize_steps: int = 20  # L-BFGS iterations per tuning
    # while tuning, gt and ifgt are sigmoids of this width (features are ~unit scale), so thresholds
    # inside comparisons move too; null: hard judges (such thresholds then get no gradient)
    soft_judges: float | None = 0.05
    temperature: float = 0.3  # teacher distribution p^(1/T) (Rusu et al.; T < 1 sharpens)
    # how much each fitness state counts: "uniform"; "critical", the teacher's log-probability gap
    # between its best and worst action (VIPER's Q-DAgger weighting; the same weight as the
    # criticality-weighted agreement of eval.json), so states where the action matters count more;
    # or "decisive", only the states where the teacher's top probability is at least 0.9
    state_weights: str = "uniform"
    strategy: str = "joint"  # "joint" or "coordinate" (see gplearn_custom/genetic.py)
    coordinate_generations: int = 2
    # budget that scales with the game's actions: where set, generations = rounds_per_action x
    # coordinate_generations x the number of actions, so the coordinate strategy gives each action's
    # program this many turns (Boxing's 18 programs would get one turn each of a fixed 40)
    rounds_per_action: int | None = None
    stopping_agreement: float = 1.0  # stop once the training agreement reaches this
    cache_mb: float = 256.0  # subtree output cache
    # cores (-1: all): restarts run side by side in processes, and the cores left over evaluate a
    # run's new programs in threads; the programs do not depend on it
    n_jobs: int = 1
    restarts: int = 3  # independent runs at most (one --trials trial is one run)
    restart_below: float = 0.95  # run again while the best validation agreement is below this
    # the output among the restarts: the best mean return in this many whole games (through the
    # dataset's perception, or a built-in game's own objects), on seeds drawn apart from the evaluation
    # seeds; 0, or a dataset that cannot be played: the best validation agreement
    select_episodes: int = 8
    select_max_steps: int = 2000  # cap per selection game (the built-in games end sooner)
    # DAgger: rounds of the student playing (through the dataset's perception) and the teacher
    # labelling what it saw; each round's states join the training states (gplearn_custom/dagger.py)
    dagger_rounds: int = 0
    dagger_steps: int = 2000  # student steps per round
    # Optuna (with --trials): each trial draws GP settings and a seed; objective is the validation
    # agreement minus size_penalty per node
    size_penalty: float = 1e-4
    # baselines reported in eval.json, same data and seed
    baselines: bool = True
    baseline_population: int = 1000  # stock gplearn SymbolicRegressor on the action index (MAE)
    baseline_generations: int | None = None  # None: the method's budget of scored programs
    mlp_hidden: int = 64  # MLP student distilled with KL
    mlp_epochs: int = 300
    # evaluation
    speed_decisions: int = 2000  # batch-1 decisions timed for decisions/s
    # privileged diagnostic: also play the evaluation seeds on the game's true objects, where the
    # dataset's types are the game's own (oracle source, synthetic datasets)
    play_true_objects: bool = True

    def for_actions(self, n_actions: int) -> DistillConfig:
        """This config with ``generations`` resolved for a game of ``n_actions`` actions."""
        if self.rounds_per_action is None:
            return self
        return replace(self, generations=self.rounds_per_action * self.coordinate_generations * n_actions)


def check_genetic(section: str, cfg: Any) -> None:
    """The rules of the genetic-programming settings that both searches share (distill, finetune)."""
    check_ranges(section, cfg, at_least_one=("population_size", "generations", "tournament_size",
                                             "max_program_size"),
                 unit=("p_crossover", "p_subtree_mutation", "p_hoist_mutation", "p_point_mutation",
                       "p_point_replace", "p_constant_mutation"), non_negative=("parsimony_coefficient",))
    if not 0 <= cfg.elitism < cfg.population_size:
        raise UserError(f"{section}.elitism must be at least 0 and smaller than population_size")
    total = (cfg.p_crossover + cfg.p_subtree_mutation + cfg.p_hoist_mutation + cfg.p_point_mutation
             + cfg.p_constant_mutation)
    if total > 1 + 1e-9:
        raise UserError(f"{section}.p_* probabilities of the genetic operators sum to {total:.3f}; "
                        "keep the sum <= 1")
    if len(cfg.init_depth) != 2 or not 1 <= cfg.init_depth[0] <= cfg.init_depth[1]:
        raise UserError(f"{section}.init_depth must be [min, max] with 1 <= min <= max, got {cfg.init_depth}")
    if len(cfg.const_range) != 2 or cfg.const_range[0] > cfg.const_range[1]:
        raise UserError(f"{section}.const_range must be [low, high] with low <= high, got {cfg.const_range}")
