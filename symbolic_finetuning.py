"""Stage III: fine-tune the distilled symbolic policy on the game's reward.

    python symbolic_finetuning.py --config configs/pong.yaml --run runs/pong [finetune.generations=6 ...]

Evolves the distilled forest with reward fitness (its return playing through perception), tunes its
constants with PPO under the teacher's soft supervision, and writes runs/NAME/finetune/:
program.json, program.txt, policy.py, eval.json (fine-tuned, distilled and teacher returns on the
evaluation seeds), tensorboard/, checkpoint.json (every generation; --resume continues from it),
config.yaml and complete.json. See gplearn_custom/rl/.
"""

from __future__ import annotations

from common.cli import parse_stage_args, run_cli, stage_parser

STAGE = "finetune"
SECTIONS = ("env", "teacher", "detector", "dataset", "distill", "evaluation", "finetune")
READS = ("teacher", "dataset", "distill", "distill/program.json")


def main(argv: list[str]) -> dict:
    parser = stage_parser(__doc__.splitlines()[1], SECTIONS)
    args = parse_stage_args(parser, argv, create_run=False)
    stage = args.run.stage(STAGE, "symbolic_finetuning.py")
    stage.check_writable(args.resume, args.force)
    from gplearn_custom.rl.stage import finetune, load_inputs

    inputs = load_inputs(args.config, args.run)
    key = stage.key(args.config, SECTIONS, READS)
    out = stage.prepare(args.config, key, args.resume, args.force)
    report = finetune(args.config, inputs, out)
    tuned, distilled, teacher = report["finetuned"], report["distilled"], report["teacher"]
    summary = {"return_mean": tuned["return_mean"], "return_std": tuned["return_std"], "size": tuned["size"],
               "distilled_return_mean": distilled["return_mean"], "distilled_size": distilled["size"],
               "teacher_return_mean": teacher["return_mean"] if teacher else None, "chosen": report["chosen"],
               "finetune_seconds": report["finetune_seconds"]}
    stage.finish(key, summary)
    versus_teacher = f", teacher {teacher['return_mean']:.2f}" if teacher else ""
    print(
        f"finetune: return {tuned['return_mean']:.2f} ± {tuned['return_std']:.2f} on "
        f"{len(tuned['returns'])} seeds (distilled {distilled['return_mean']:.2f} ± "
        f"{distilled['return_std']:.2f}{versus_teacher}), size {distilled['size']} -> {tuned['size']} nodes, "
        f"output: {report['chosen']}, {report['ppo_updates']} PPO updates, {report['env_steps']} env steps, "
        f"{report['finetune_seconds']:.0f} s -> {out}"
    )
    return report


if __name__ == "__main__":
    run_cli(main)
