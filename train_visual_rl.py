"""Stage I: train the PPO teacher on pixels.

    python train_visual_rl.py --config configs/pong.yaml --run runs/pong [key=value ...]

Writes runs/NAME/teacher/: teacher.zip (best evaluated model), final_model.zip, checkpoints/,
tensorboard/, eval/, config.yaml and complete.json with the summary. With ``teacher.zoo=zoo/GAME``
it copies that shipped teacher instead of training one, and evaluates it.
"""

from __future__ import annotations

from common.cli import parse_stage_args, run_cli, stage_parser

STAGE = "teacher"
SECTIONS = ("env", "teacher", "evaluation")
READS: tuple[str, ...] = ()  # upstream stages and files: none


def main(argv: list[str]) -> dict:
    parser = stage_parser(__doc__.splitlines()[1], SECTIONS)
    args = parse_stage_args(parser, argv, create_run=True)
    stage = args.run.stage(STAGE, "train_visual_rl.py")
    stage.check_writable(args.resume, args.force)
    from teacher.train import check_config, train_teacher
    from teacher.zoo import install_zoo_teacher

    check_config(args.config)
    args.run.create_marker(args.config.env.id)
    key = stage.key(args.config, SECTIONS, READS)
    out = stage.prepare(args.config, key, args.resume, args.force)
    if args.config.teacher.zoo:
        summary = install_zoo_teacher(args.config, out)
        stage.finish(key, summary)
        print(f"teacher: copied from {args.config.teacher.zoo}, evaluation return "
              f"{summary['return_mean']:.2f} ± {summary['return_std']:.2f} -> {out}")
        return summary
    summary = train_teacher(args.config, out, resume=args.resume)
    stage.finish(key, summary)
    print(
        f"teacher: {summary['timesteps']} steps in {summary['wall_seconds']:.0f} s "
        f"({summary['frames_per_second']:.0f} frames/s), evaluation return "
        f"{summary['return_mean']:.2f} ± {summary['return_std']:.2f} -> {out}"
    )
    return summary


if __name__ == "__main__":
    run_cli(main)
