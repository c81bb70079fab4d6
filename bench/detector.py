"""Stage II-A benchmark: F1 against the true objects and frames per second of each object source.

    .venv/bin/python bench/detector.py [--skip-atari] [--threads 2] [--atari-steps 1000]

Built-in Pong (64x64): frames of random play; SPACE (cpu preset) trains on 4,000 of them and is
scored, like segment and oracle, at 3 pixels on 200 held-out frames. Target (issue 3): SPACE
F1 >= 0.95 after at most 3 minutes of training on 2 cores; segment F1 >= 0.98.
Atari Pong (ale-py through envs.make_env: 84x84 RGB frames): the true objects come from OCAtari's
RAM extraction scaled to the frame; segment and SPACE (cpu preset, short training) are scored at
5 pixels inside the playfield (the score digits above it are not objects for OCAtari).
Speed: ``detect`` on one frame at a time (as generate_dataset.py calls it) and on 200 at once.
Timings depend on the machine's load, which is recorded with the results.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from benchlib import save, table  # noqa: I001  (puts the repository on sys.path)

from common.config import from_dict
from envs.builtin import BuiltinPong, random_play
from space.config import DetectorConfig
from space.detector import SpaceDetector
from space.evaluate import evaluate_source
from space.oracle import AtariRamObjects, OracleSource
from space.sources import ObjectSource, RoiFilter, make_source
from space.train import train_space

ATARI_ID = "PongNoFrameskip-v4"
ATARI_PLAYFIELD = [0.0, 0.16, 1.0, 0.92]  # x0, y0, x1, y1: between the walls, below the score
# The cpu preset at the paper's Atari geometry (84x84 frames upsampled to 128, 16x16 cells), with a
# coarser background plus a full-resolution canvas for the walls.
ATARI_SPACE = {"image_size": 128, "grid": 16, "bg_stride": 8, "bg_canvas": True}


def builtin_frames(n: int, seed: int) -> tuple[np.ndarray, list[list[dict]], list[dict]]:
    frames, objects = random_play(BuiltinPong(), n, seed)
    return np.stack(frames), objects, [{"objects": o} for o in objects]


def atari_frames(n: int, seed: int) -> tuple[np.ndarray, list[list[dict]], list[dict]]:
    """Random play through the project's Atari wrappers, with OCAtari's objects of each frame."""
    from envs import make_env
    from envs.config import EnvConfig

    env = make_env(EnvConfig(id=ATARI_ID), seed=seed)
    ram_objects = AtariRamObjects("Pong")
    rng = np.random.default_rng(seed)
    frames, objects, infos = [], [], []
    for _ in range(n):
        frame, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        ram = env.unwrapped.ale.getRAM().copy()
        frames.append(frame)
        objects.append(ram_objects(ram, (frame.shape[1], frame.shape[0])))
        infos.append({"ram": ram})
        if terminated or truncated:
            env.reset()
    env.close()
    return np.stack(frames), objects, infos


def score(name: str, source: ObjectSource, frames: np.ndarray, objects: list[list[dict]],
          infos: list[dict], cfg: DetectorConfig, type_names: list[str]) -> dict:
    """F1 and friends on the held-out frames, then speed at batch 1 and at batch len(frames)."""
    report, _ = evaluate_source(_Replay(source, infos), frames, objects, cfg, type_names)
    started = time.perf_counter()
    for i in range(len(frames)):
        source.detect(frames[i:i + 1], infos[i:i + 1])
    batch1 = len(frames) / (time.perf_counter() - started)
    return {"source": name, "f1": report["f1"], "precision": report["precision"],
            "recall": report["recall"], "count_acc": report["count_accuracy"], "ap50": report["ap"],
            "fps_batch1": batch1, f"fps_batch{len(frames)}": report["frames_per_second"],
            "per_type_f1": {k: round(v["f1"], 3) for k, v in report["per_type"].items()}}


class _Replay:
    """Hands the recorded infos (true objects or RAM) to a source, as the game would."""

    def __init__(self, source: ObjectSource, infos: list[dict]):
        self.source, self.infos = source, infos

    def detect(self, frames: np.ndarray, infos: list[dict] | None = None) -> list:
        return self.source.detect(frames, self.infos[: len(frames)])


def trained_space(cfg: DetectorConfig, frames: np.ndarray, seed: int) -> tuple[SpaceDetector, float]:
    with tempfile.TemporaryDirectory() as tmp:
        result = train_space(cfg, frames, Path(tmp), seed)
        detector = SpaceDetector.load(Path(tmp) / "model.pt", cfg.threshold, cfg.nms_iou)
    return detector, result["seconds"]


def game(name: str, frames: np.ndarray, objects: list, infos: list, cfg: DetectorConfig,
         type_names: list[str], env_id: str, seed: int) -> list[dict]:
    n_eval = cfg.train.eval_frames
    train, test = frames[:-n_eval], slice(len(frames) - n_eval, None)
    rows = []
    for source_name in ("oracle", "segment"):
        source_cfg = from_dict(DetectorConfig, {"source": source_name, "roi": cfg.roi,
                                                "eval": {"tolerance": cfg.eval.tolerance}})
        source = OracleSource(env_id) if source_name == "oracle" else make_source(source_cfg, None)
        rows.append(score(source_name, source, frames[test], objects[test], infos[test], source_cfg,
                          type_names))
    detector, seconds = trained_space(cfg, train, seed)
    space: ObjectSource = RoiFilter(detector, cfg.roi) if cfg.roi else detector
    row = score("space", space, frames[test], objects[test], infos[test], cfg, type_names)
    row.update(train_s=seconds, train_steps=cfg.train.steps, train_frames=len(train))
    rows.append(row)
    for row in rows:
        row["game"] = name
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4200, help="frames per game, last 200 held out")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--builtin-steps", type=int, default=None, help="SPACE steps; default: preset")
    parser.add_argument("--atari-steps", type=int, default=1000, help="SPACE training steps on Atari")
    parser.add_argument("--skip-atari", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []

    cfg = from_dict(DetectorConfig, {"preset": "cpu", "train": {"torch_threads": args.threads,
                                                                 "steps": args.builtin_steps}})
    frames, objects, infos = builtin_frames(args.frames, args.seed)
    rows += game("BuiltinPong-v0", frames, objects, infos, cfg, list(BuiltinPong.OBJECT_TYPES),
                 "BuiltinPong-v0", args.seed)

    if not args.skip_atari:
        cfg = from_dict(DetectorConfig, {
            "preset": "cpu", "roi": ATARI_PLAYFIELD, "model": ATARI_SPACE, "eval": {"tolerance": 5.0},
            "train": {"steps": args.atari_steps, "torch_threads": args.threads},
        })
        frames, objects, infos = atari_frames(args.frames, args.seed)
        rows += game(ATARI_ID, frames, objects, infos, cfg, AtariRamObjects("Pong").type_names,
                     ATARI_ID, args.seed)

    columns = ["game", "source", "f1", "precision", "recall", "count_acc", "ap50", "fps_batch1",
               "fps_batch200", "train_s", "train_steps"]
    print(table(rows, columns))
    for row in rows:
        print(f"{row['game']} {row['source']}: F1 per type {row['per_type_f1']}")
    path = save("detector", {"rows": rows, "atari_space": ATARI_SPACE, "atari_roi": ATARI_PLAYFIELD})
    print(f"results -> {path}")


if __name__ == "__main__":
    main()
