"""Stage II-A (data): record frames of teacher play (the function that ``save_frames.py`` calls)."""

from __future__ import annotations

import time

from tqdm import tqdm

from common.config import check_ranges
from common.io import read_json, write_json
from common.shards import write_shard
from envs.info import perceived_frame
from pipeline.cli import StageArgs

STAGE = "frames"
SECTIONS = ("env", "teacher", "frames")
READS = ("teacher",)


def frames_stage(args: StageArgs) -> dict:
    """Stage II-A (data): record the teacher's frames in ``args.run/frames``."""
    config, f = args.config, args.config.frames
    check_ranges("frames", f, unit=("random_action_prob",))
    teacher_dir = args.run.stage("teacher", "train_visual_rl.py").require_complete().path
    stage = args.run.stage(STAGE, "save_frames.py")
    key = stage.key(config, SECTIONS, READS)
    out = stage.prepare(config, key, args.resume, args.force)

    from envs import action_names
    from space.oracle import TrueObjects
    from teacher.agent import TeacherAgent
    from teacher.rollout import rollout

    meta_path = out / "meta.json"
    shards = read_json(meta_path)["shards"] if meta_path.is_file() else []
    done = len(shards) * f.shard_size
    teacher = TeacherAgent.load(teacher_dir, config.env.frame_stack, device=config.teacher.device)
    truth = TrueObjects(config.env.id)  # privileged: kept for the detector's scores only
    actions = action_names(config.env)  # before the rollout's emulator opens: stable-retro allows one
    start = time.perf_counter()
    frames, objects, known, seeds = [], [], True, set()
    steps = rollout(config.env, teacher, f.n_frames, f.random_action_prob, config.seed,
                    deterministic=f.deterministic)
    for i, step in enumerate(tqdm(steps, total=f.n_frames, desc="frames", unit="frame")):
        seeds.add(step.seed)
        if i < done:  # resume: replay the same seeded rollout up to the first missing shard
            continue
        frames.append(perceived_frame(step.frame, step.info))  # what the detector will read
        true = truth(step.info, (step.frame.shape[1], step.frame.shape[0]))
        known = known and true is not None
        objects.append(true or [])
        if len(frames) == f.shard_size or i == f.n_frames - 1:
            name = f"shard_{len(shards):05d}.npz"
            write_shard(out / name, frames, objects if known else None)
            shards.append(name)
            write_json(meta_path, {
                "env_id": config.env.id, "image_shape": list(frames[0].shape),
                "object_types": truth.type_names if known else None, "action_names": actions,
                "n_frames": min((i + 1), f.n_frames), "shards": shards, "episode_seeds": sorted(seeds),
            })
            frames, objects = [], []
    summary = {"n_frames": f.n_frames, "shards": len(shards), "true_objects": known,
               "seconds": time.perf_counter() - start}
    stage.finish(key, summary)
    print(f"frames: {f.n_frames} frames in {len(shards)} shards -> {out}")
    return summary
