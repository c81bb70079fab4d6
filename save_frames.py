"""Stage II-A (data): record frames of teacher play for the object detector.

    python save_frames.py --config configs/pong.yaml --run runs/pong [frames.n_frames=4000 ...]

Writes runs/NAME/frames/: shard_00000.npz ... (frames and, where the game knows them, true
objects), meta.json, config.yaml, complete.json. An interrupted run resumes at the next shard.
"""

from __future__ import annotations

from common.cli import run_cli
from pipeline.cli import parse_stage_args, stage_parser
from pipeline.frames import READS, SECTIONS, STAGE, frames_stage

__all__ = ["READS", "SECTIONS", "STAGE", "main"]


def main(argv: list[str]) -> dict:
    parser = stage_parser(__doc__.splitlines()[1], SECTIONS)
    return frames_stage(parse_stage_args(parser, argv, create_run=False))


if __name__ == "__main__":
    run_cli(main)
