"""Entry point of ``python -m space train | eval | show`` (see space/cli.py)."""

from common.cli import run_cli
from space.cli import main

run_cli(main)
