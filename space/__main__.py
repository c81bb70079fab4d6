"""Entry point of ``python -m space train | eval | show`` (see pipeline/detector.py)."""

from common.cli import run_cli
from pipeline.detector import main

run_cli(main)
