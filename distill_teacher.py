"""Stage II-C: distil the teacher into one symbolic program per action (see gplearn_custom/stage.py).

    python distill_teacher.py --config configs/pong.yaml --run runs/pong
    python distill_teacher.py --config configs/pong.yaml --run runs/pong --trials 20   # Optuna restarts
"""

from common.cli import run_cli
from gplearn_custom.stage import READS, SECTIONS, STAGE, main

__all__ = ["READS", "SECTIONS", "STAGE", "main"]

if __name__ == "__main__":
    run_cli(main)
