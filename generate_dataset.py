"""Stage II-B: roll out the teacher, read objects from every frame, write the object-state dataset.

    python generate_dataset.py --config configs/pong.yaml --run runs/pong [dataset.n_steps=20000 ...]

Writes runs/NAME/dataset.json (DiffSES's schema: a list of {"state", "teacher_action",
"teacher_probs", "episode", "step"}) and runs/NAME/dataset.meta.json (object source, type
centroids, tracking, image size, actions, agent type, statistics); runs/NAME/dataset/ keeps the
resolved config and the completion record. The dataset is streamed into a hidden temporary file
and renamed into place when complete. --resume starts the stage again from scratch: the rollout
is seeded, so the result is the same dataset.
"""

from __future__ import annotations

from common.cli import parse_stage_args, run_cli, stage_parser
from common.errors import UserError

STAGE = "dataset"
SECTIONS = ("env", "teacher", "detector", "dataset")
READS = ("teacher", "space")
DATASET = "dataset.json"


def main(argv: list[str]) -> dict:
    parser = stage_parser(__doc__.splitlines()[1], SECTIONS)
    args = parse_stage_args(parser, argv, create_run=False)
    config = args.config
    args.run.stage("teacher", "train_visual_rl.py").require_complete()
    if config.detector.source == "space":
        args.run.stage("space", "python -m space train").require_complete()
    stage = args.run.stage(STAGE, "generate_dataset.py")
    out = args.run.path / DATASET
    stage.check_writable(args.resume, args.force)
    if out.exists() and not stage.started and not args.force:
        raise UserError(f"{out} exists but was not made by generate_dataset.py; pass --force to replace it")

    import torch

    from envs import action_names, env_kind, object_type_names
    from see.dataset import remove_partial
    from see.generation import generate
    from space.sources import make_source

    torch.set_num_threads(config.dataset.torch_threads)
    source = make_source(config.detector, args.run.path, config.env.id)
    true_names = object_type_names(config.env)
    if true_names is None and config.detector.source == "oracle" and env_kind(config.env.id) == "atari":
        from space.oracle import AtariRamObjects, atari_game

        true_names = AtariRamObjects(atari_game(config.env.id)).type_names
    key = stage.key(config, SECTIONS, READS)
    stage.prepare(config, key, args.resume, args.force)
    remove_partial(out)
    meta = generate(config, args.run.path, source, out, true_names, action_names(config.env))
    stats = meta["stats"]
    stage.finish(key, stats)
    agent = meta["agent_type"]
    purity = meta.get("diagnostics", {}).get("types_vs_truth", {}).get("purity")
    print(f"dataset: {stats['entries']} states from {stats['steps']} steps in {stats['seconds']:.0f} s "
          f"({stats['steps_per_second']:.0f} steps/s), {len(meta['object_types'])} object types, agent "
          + (meta["object_types"][agent] if agent is not None else "not found")
          + (f" (privileged check against true objects: purity {purity:.3f})" if purity is not None else "")
          + f" -> {out}")
    return meta


if __name__ == "__main__":
    run_cli(main)
