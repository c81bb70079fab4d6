"""Stage II-B: roll out the teacher, read objects from every frame, write the object-state dataset.

    python generate_dataset.py --config configs/pong.yaml --run runs/pong [dataset.n_steps=20000 ...]

Writes runs/NAME/dataset.json (DiffSES's schema: a list of {"state", "teacher_action",
"teacher_probs", "episode", "step"}) and runs/NAME/dataset.meta.json (object source, type
centroids, tracking, image size, actions, agent type, statistics); runs/NAME/dataset/ keeps the
resolved config and the completion record. The dataset is streamed into a hidden temporary file
and renamed into place when complete. --resume starts the stage again from scratch: the rollout
is seeded, so the result is the same dataset.
"""

from __future__ import annotations

from common.cli import run_cli
from pipeline.cli import parse_stage_args, stage_parser
from pipeline.dataset import READS, SECTIONS, STAGE, dataset_stage

__all__ = ["READS", "SECTIONS", "STAGE", "main"]


def main(argv: list[str]) -> dict:
    parser = stage_parser(__doc__.splitlines()[1], SECTIONS)
    return dataset_stage(parse_stage_args(parser, argv, create_run=False))


if __name__ == "__main__":
    run_cli(main)
