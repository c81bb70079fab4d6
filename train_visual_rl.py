"""Stage I: train the PPO teacher on pixels.

    python train_visual_rl.py --config configs/pong.yaml --run runs/pong [key=value ...]

Writes runs/NAME/teacher/: teacher.zip (best evaluated model), final_model.zip, checkpoints/,
tensorboard/, eval/, config.yaml and complete.json with the summary. With ``teacher.zoo=zoo/GAME``
it copies that shipped teacher instead of training one, and evaluates it.
"""

from __future__ import annotations

from common.cli import run_cli
from pipeline.cli import parse_stage_args, stage_parser
from pipeline.teacher import READS, SECTIONS, STAGE, teacher_stage

__all__ = ["READS", "SECTIONS", "STAGE", "main"]


def main(argv: list[str]) -> dict:
    parser = stage_parser(__doc__.splitlines()[1], SECTIONS)
    return teacher_stage(parse_stage_args(parser, argv, create_run=True))


if __name__ == "__main__":
    run_cli(main)
