"""The command line shared by every stage script (RL-Zoo style: config file plus overrides)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from common.config import describe
from common.runs import RunFolder
from pipeline.config import Config, load_config


@dataclass
class StageArgs:
    config: Config
    run: RunFolder
    resume: bool
    force: bool
    options: argparse.Namespace  # every parsed argument, a stage's own options included


def stage_parser(description: str, sections: tuple[str, ...]) -> argparse.ArgumentParser:
    """--config, --run, --seed, --resume, --force and ``key=value`` overrides; --help lists keys."""
    keys = "\n".join(line for line in describe(Config) if _in_sections(line, ("seed", *sections)))
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"config keys (override with key=value):\n{keys}",
    )
    parser.add_argument("--config", required=True, help="YAML file in configs/")
    parser.add_argument("--run", required=True, help="run folder, e.g. runs/pong")
    parser.add_argument("--seed", type=int, default=None, help="overrides the config's seed")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted stage")
    parser.add_argument("--force", action="store_true", help="replace a finished stage")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    return parser


def parse_stage_args(parser: argparse.ArgumentParser, argv: list[str], create_run: bool) -> StageArgs:
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides, args.seed)
    from envs import check_env_id

    check_env_id(config.env.id)
    run = RunFolder(args.run).open(config.env.id, create=create_run)
    return StageArgs(config, run, args.resume, args.force, args)


def _in_sections(line: str, sections: tuple[str, ...]) -> bool:
    key = line.strip().split(" ", 1)[0]
    return key.split(".", 1)[0] in sections
