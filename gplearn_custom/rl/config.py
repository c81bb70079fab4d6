"""The ``finetune`` section of a config: Stage III's evolution on reward, PPO on constants, teacher KL."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.config import check_ranges
from common.errors import UserError
from gplearn_custom.config import check_genetic

OBJECTS = ("perception", "game")
REWARDS = ("game", "learned")


@dataclass
class FinetuneConfig:
    """Stage III: evolve the distilled forest on the game's return and tune its constants with PPO.

    The defaults fit a built-in game played through a detector (about 1 ms per frame) in one to two
    minutes on 2 CPU cores; with ``objects=game`` the same time buys population 24 x 15 generations
    of 3 episodes of 300 steps.
    """

    # where the search reads objects: "perception" rebuilds Stage II-B's (dataset.meta.json), as the
    # agent will play; "game" is PRIVILEGED: it reads a built-in game's true objects (a dataset typed
    # by the oracle source only), and eval.json and the report mark every result made with it
    objects: str = "perception"
    # what the search maximises: "game" the score; "learned" the reward learn_reward.py fitted to the
    # teacher's checkpoints (T-REX, reward/), summed over the states played; evaluation always reports
    # the game's score
    reward: str = "game"
    # evolution with reward fitness: the first population is the distilled forest, fresh forests and
    # mutated copies of the distilled one
    population_size: int = 16
    fresh_share: float = 0.5  # of the first population grown afresh rather than mutated from it
    fresh_pool: int = 200  # fresh forests grown and screened on the fitness episodes for those places
    # pursuit forests screened beside them (gplearn_custom/rl/pursuit.py): each action's logit is the
    # agent's measured velocity after it times another object's offset from the agent plus one of these
    # offsets (image fractions); [] screens none
    pursuit_offsets: list[float] = field(default_factory=list)
    generations: int = 8
    tournament_size: int = 3
    elitism: int = 1  # best forests copied unchanged into the next generation (and re-evaluated)
    episodes: int = 2  # fitness episodes per forest; new seeds every generation, the same for all forests
    max_episode_steps: int = 200  # fitness episodes are cut here (the evaluation plays whole games)
    # fitness episodes also end at the first negative reward (a lost point or life, as Atari's episodic
    # life wrapper ends them): a player's fitness is then what it scores before its first mistake, and
    # the weak players' episodes are short; the selection and the evaluation play whole games
    end_on_loss: bool = False
    parsimony_coefficient: float = 0.002  # return per program node
    p_crossover: float = 0.2
    p_subtree_mutation: float = 0.2
    p_hoist_mutation: float = 0.1
    p_point_mutation: float = 0.2
    p_point_replace: float = 0.05
    p_constant_mutation: float = 0.2  # the rest (0.1) is reproduction
    init_depth: list[int] = field(default_factory=lambda: [1, 3])  # of subtrees grown by mutation
    const_range: list[float] = field(default_factory=lambda: [-1.0, 1.0])  # of constants grown
    max_program_size: int = 30  # nodes per action's program
    # the output is the best of the distilled forest, the last generation's best forests and the polished
    # one, in whole games on held-out training seeds (never the evaluation seeds)
    selection_candidates: int = 3  # best distinct forests of the last generation taken to the selection
    selection_episodes: int = 6
    selection_max_steps: int = 2000  # cap per selection game (the built-in games end sooner)
    # differentiable constants: PPO on the forest's constants and softmax scale
    p_ppo: float = 0.1  # probability that a tournament winner's constants are tuned by PPO
    ppo_updates: int = 1  # PPO updates per such tuning
    polish_updates: int = 4  # PPO updates on the best forest at the end
    n_envs: int = 8
    n_steps: int = 128  # steps per environment per update
    n_epochs: int = 10
    n_minibatches: int = 4
    learning_rate: float = 0.05  # Adam on the constants and the log of the scale
    # inverse temperature each tuning starts from (then tuned): greedy play does not depend on it, and the
    # distilled one fits the teacher's sharpness, not exploration (too sharp to learn from, or so flat
    # that PPO samples near-random play); 20 puts a 0.05 gap in features (3 of 64 pixels) at one logit
    ppo_scale: float = 20.0
    value_learning_rate: float = 1.0e-3  # Adam on the value network (used in training only)
    value_hidden: int = 64
    gamma: float = 0.97  # the built-in games score within tens of steps of a decision
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    # soft expert supervision: kl_coef * KL(teacher || student) on visited states, linear in PPO updates
    kl_coef_start: float = 1.0
    kl_coef_end: float = 0.0
    kl_coef_updates: int = 20  # PPO updates (whole stage) over which kl_coef goes from start to end
    torch_threads: int = 1

    def __post_init__(self) -> None:
        if self.objects not in OBJECTS:
            raise UserError(f"finetune.objects must be one of {', '.join(OBJECTS)}, got '{self.objects}'")
        if self.reward not in REWARDS:
            raise UserError(f"finetune.reward must be one of {', '.join(REWARDS)}, got '{self.reward}'")
        check_genetic("finetune", self)
        check_ranges("finetune", self,
                     at_least_one=("episodes", "max_episode_steps", "selection_candidates",
                                   "selection_episodes", "selection_max_steps", "fresh_pool", "n_envs",
                                   "n_steps", "n_epochs", "n_minibatches", "value_hidden", "torch_threads"),
                     non_negative=("ppo_updates", "polish_updates", "kl_coef_updates", "ent_coef", "vf_coef",
                                   "kl_coef_start", "kl_coef_end"),
                     unit=("p_ppo", "fresh_share", "gamma", "gae_lambda"),
                     positive=("learning_rate", "value_learning_rate", "ppo_scale", "clip_range",
                               "max_grad_norm"))
        mutations = self.p_subtree_mutation + self.p_hoist_mutation + self.p_point_mutation
        if mutations + self.p_constant_mutation <= 0:
            raise UserError("finetune needs a mutation (p_subtree, p_hoist, p_point or p_constant_mutation "
                            "> 0) to make the first population")

    @property
    def uses_teacher(self) -> bool:
        """The teacher is loaded only if its KL term can be non-zero in some PPO update."""
        return max(self.kl_coef_start, self.kl_coef_end) > 0 and (self.p_ppo > 0 and self.ppo_updates > 0
                                                                  or self.polish_updates > 0)

    def kl_coef(self, update: int) -> float:
        """Linear schedule over the stage's PPO updates, then constant at ``kl_coef_end``."""
        if self.kl_coef_updates == 0:
            return self.kl_coef_end
        t = min(update / self.kl_coef_updates, 1.0)
        return self.kl_coef_start + t * (self.kl_coef_end - self.kl_coef_start)
