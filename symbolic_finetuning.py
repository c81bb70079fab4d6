"""Stage III: fine-tune the distilled symbolic policy on the game's reward.

    python symbolic_finetuning.py --config configs/pong.yaml --run runs/pong [finetune.generations=6 ...]

Evolves the distilled forest with reward fitness (its return playing through perception), tunes its
constants with PPO under the teacher's soft supervision, and writes runs/NAME/finetune/:
program.json, program.txt, policy.py, eval.json (fine-tuned, distilled and teacher returns on the
evaluation seeds), tensorboard/, checkpoint.json (every generation; --resume continues from it),
config.yaml and complete.json. See gplearn_custom/rl/. With finetune.reward=learned the search scores
play by the reward learn_reward.py learned (reward/) instead of the game's; eval.json still reports
the game's score.
"""

from __future__ import annotations

from common.cli import run_cli
from pipeline.cli import parse_stage_args, stage_parser
from pipeline.finetune import SECTIONS, STAGE, finetune_stage, reads

__all__ = ["SECTIONS", "STAGE", "main", "reads"]


def main(argv: list[str]) -> dict:
    parser = stage_parser(__doc__.splitlines()[1], SECTIONS)
    return finetune_stage(parse_stage_args(parser, argv, create_run=False))


if __name__ == "__main__":
    run_cli(main)
