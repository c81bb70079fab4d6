"""Run every stage in order on one run folder, skipping finished ones and resuming interrupted ones.

    python run_pipeline.py --config configs/pong.yaml --run runs/pong [key=value ...]

A stage whose artifacts are complete for the same settings and inputs is skipped; one that was
interrupted continues with --resume; one whose inputs changed since (an upstream stage was re-run)
is stale and redone; one finished with other settings is an error unless --force is given, which
redoes every stage.
"""

from __future__ import annotations

import argparse

from common.cli import run_cli
from pipeline.run import run_pipeline


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--config", required=True, help="YAML file in configs/")
    parser.add_argument("--run", required=True, help="run folder, e.g. runs/pong")
    parser.add_argument("--seed", type=int, default=None, help="overrides the config's seed")
    parser.add_argument("--force", action="store_true", help="redo every stage")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    run_pipeline(parser.parse_args(argv))


if __name__ == "__main__":
    run_cli(main, "interrupted; run the same command again (make demo, or run_pipeline.py with the same "
                  "--run) and it resumes where it stopped")
