"""Stage II-C: distil the teacher into one symbolic program per action (see pipeline/distill.py).

    python distill_teacher.py --config configs/pong.yaml --run runs/pong
    python distill_teacher.py --config configs/pong.yaml --run runs/pong --trials 20   # Optuna restarts
"""

from __future__ import annotations

import argparse

from common.cli import run_cli
from pipeline.cli import parse_stage_args, stage_parser
from pipeline.distill import READS, SECTIONS, STAGE, distill_stage

__all__ = ["READS", "SECTIONS", "STAGE", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser("Stage II-C: distil the teacher's dataset into one symbolic program per action.",
                          SECTIONS)
    parser.add_argument("--trials", type=int, default=0,
                        help="run an Optuna study of this many trials over GP settings and seeds")
    parser.add_argument("--storage", default=None,
                        help="Optuna storage URL shared by worker processes (default: sqlite in distill/)")
    return parser


def main(argv: list[str]) -> dict:
    return distill_stage(parse_stage_args(build_parser(), argv, create_run=False))


if __name__ == "__main__":
    run_cli(main)
