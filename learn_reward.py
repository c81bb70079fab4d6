"""Learn a reward from the teacher's checkpoints (T-REX) and read it as a program.

    python learn_reward.py --config configs/pong.yaml --run runs/pong [reward.pairs=5000 ...]

Plays whole episodes with every checkpoint of the teacher (and a random player below them), reads
them through the dataset's perception, ranks them by checkpoint (or by score: reward.rank_by=return),
fits an ensemble of small reward networks to clip pairs with T-REX's Bradley-Terry loss, and writes
runs/NAME/reward/: model.pt and model.json (the reward symbolic_finetuning.py uses with
finetune.reward=learned), program.txt (the reward distilled into one program), eval.json (Spearman
and Pearson correlations of predicted and true returns on held-out episodes, the held-out best
checkpoints among them), scatter.png, tensorboard/, config.yaml and complete.json.
"""

from __future__ import annotations

from common.cli import run_cli
from pipeline.cli import parse_stage_args, stage_parser
from pipeline.reward import READS, SECTIONS, STAGE, reward_stage

__all__ = ["READS", "SECTIONS", "STAGE", "main"]


def main(argv: list[str]) -> dict:
    parser = stage_parser(__doc__.splitlines()[1], SECTIONS)
    return reward_stage(parse_stage_args(parser, argv, create_run=False))


if __name__ == "__main__":
    run_cli(main)
