"""The ``dataset`` section of a config: how Stage II-B turns teacher play into object states."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.config import check_ranges
from common.errors import UserError


@dataclass
class DatasetConfig:
    """Rollout length and exploration, object typing and tracking of ``generate_dataset.py``."""

    n_steps: int = 20_000  # agent steps rolled out (states without any object are left out)
    random_action_prob: float = 0.2  # share of random actions; the teacher labels every state anyway
    deterministic: bool = True  # the teacher's own actions: argmax (true) or sampled
    n_types: int | None = None  # object types for space/segment; None: best silhouette in type_range
    type_range: list[int] = field(default_factory=lambda: [2, 8])  # [min, max] types tried
    cluster_frames: int = 1000  # frames whose detections fit the types (frames/ if saved, else play)
    silhouette_points: int = 2000  # detections sampled to score each number of types
    silhouette_tolerance: float = 0.05  # fewest types scoring within this of the best silhouette
    # look-alike types (colour name, sizes within a pixel) sharing at most this share of the rarer
    # one's frames become one type, where the silhouette chose the count; null: never merge
    lookalike_shared: float | None = 0.02
    gate: float = 8.0  # pixels: farthest a detection may be from an object's predicted centre
    memory: int = 3  # steps an undetected object is remembered before it is forgotten
    # SPACE presence enough to continue an object already tracked (detector.threshold starts one):
    # a faint ball stays followed, faint noise far from every object stays out; null: no hysteresis
    follow_threshold: float | None = 0.1
    match_tolerance: float = 3.0  # pixels: detection to true object, for purity and velocity error
    chunk: int = 256  # frames the object source sees per call
    decimals: int = 3  # decimals of positions and velocities written
    torch_threads: int = 1  # one is fastest at batch 1 on a shared 2-core machine
    # the agent's own type: None finds it from the pixels, as the type whose motion the actions
    # explain best (see.agent_finder); an index overrides that
    agent_type: int | None = None
    agent_min_share: float = 0.05  # least share of motion the actions must explain to name an agent

    def __post_init__(self) -> None:
        check_ranges("dataset", self,
                     at_least_one=("n_steps", "n_types", "cluster_frames", "silhouette_points", "chunk",
                                   "torch_threads"),
                     unit=("random_action_prob", "agent_min_share", "lookalike_shared", "follow_threshold"),
                     positive=("gate", "match_tolerance"),
                     non_negative=("agent_type", "memory", "decimals", "silhouette_tolerance"))
        if len(self.type_range) != 2 or not 1 <= self.type_range[0] <= self.type_range[1]:
            raise UserError(
                f"dataset.type_range must be [min, max] with 1 <= min <= max, got {self.type_range}")
