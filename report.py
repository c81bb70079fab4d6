"""Report: results table, programs, curves, detector frames, transfer table and a GIF.

    python report.py --config configs/pong.yaml --run runs/pong

Reads every finished stage in runs/NAME/ and writes runs/NAME/report/: report.md, PNGs,
agent.gif, transfer.json. The symbolic policy is the fine-tuned one when it exists, else the
distilled one; it plays through the same perception that made the dataset.
"""

from __future__ import annotations

from common.cli import run_cli
from pipeline.cli import parse_stage_args, stage_parser
from pipeline.report import READS, SECTIONS, STAGE, report_stage

__all__ = ["READS", "SECTIONS", "STAGE", "main"]


def main(argv: list[str]) -> object:
    parser = stage_parser(__doc__.splitlines()[1], SECTIONS)
    return report_stage(parse_stage_args(parser, argv, create_run=False))


if __name__ == "__main__":
    run_cli(main)
