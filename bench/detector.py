"""Stage II-A benchmark: detection scores against the true objects and frames per second, per game and source.

    .venv/bin/python bench/detector.py [--games Pong,Freeway,Boxing,Breakout,SpaceInvaders]
        [--space-games Pong] [--atari-steps 1000] [--threads 2] [--skip-builtin] [--teacher GAME=FOLDER]

Built-in Pong (64x64): frames of random play; SPACE (cpu preset) trains on 4,000 of them and is
scored, like segment and oracle, at 3 pixels on 200 held-out frames. Target (issue 3): SPACE
F1 >= 0.95 after at most 3 minutes of training on 2 cores; segment F1 >= 0.98.
Atari: the raw 210x160 screens (``envs.make_env``) of random play, and of the zoo teacher's play
where ``zoo/atari_<game>`` holds one (or of ``--teacher``'s, a teacher not shipped); the truth is
OCAtari's RAM objects (privileged: scores only). Each game's detector section of
``configs/atari_<game>.yaml`` (playfield, segment settings) is scored at 5 raw pixels on the last
200 frames: F1, precision, recall and recall per true category
(Hungarian matching of centres), and for segment the purity of the types found without truth
(k-means on its detections in the other frames, the number by silhouette, as Stage II-B) against
OCAtari's categories (target 0.95). SPACE (the ``atari_cpu`` preset, ``--atari-steps`` of training on
the other frames) runs on the ``--space-games``. Anchor (issue 18): OCAtari's own
vision extraction against its RAM extraction, F1 Pong 0.999, Breakout 0.969, Freeway 0.950, Boxing
0.882. Speed: ``detect`` on one frame at a time and on batches of 64. Timings depend on the
machine's load, which is recorded with each row. Writes results/detector.json, replacing the rows of
the games and plays it ran and keeping the others.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from benchlib import ROOT, machine, merged_rows, save, table  # noqa: I001  (puts the repository on sys.path)

from common.config import from_dict, to_dict
from common.io import read_json
from envs.builtin import BuiltinPong, random_play
from envs.config import EnvConfig
from envs.info import perceived_frame
from pipeline.config import load_config
from see.dataset_config import DatasetConfig
from see.object_types import TypeConfusion, learn_types
from space.config import DetectorConfig
from space.detector import SpaceDetector
from space.evaluate import evaluate_source
from space.oracle import AtariRamObjects, OracleSource
from space.sources import ObjectSource, RoiFilter, make_source
from space.train import train_space

ATARI_GAMES = ("Pong", "Freeway", "Boxing", "Breakout", "SpaceInvaders")
BATCH = 64


def builtin_frames(n: int, seed: int) -> tuple[np.ndarray, list[list[dict]], list[dict]]:
    frames, objects = random_play(BuiltinPong(), n, seed)
    return np.stack(frames), objects, [{"objects": o} for o in objects]


def atari_frames(game: str, n: int, seed: int, teacher: Path | None = None
                 ) -> tuple[np.ndarray, list[list[dict]], list[dict]]:
    """The raw screens of random play (or of ``teacher``'s play, a zoo folder), with OCAtari's
    objects of each frame."""
    from teacher.agent import TeacherAgent
    from teacher.rollout import rollout

    if teacher is None:
        steps = random_steps(EnvConfig(id=f"{game}NoFrameskip-v4"), n, seed)
    else:
        env_cfg = load_config(teacher / "config.yaml").env
        agent = TeacherAgent.load(teacher, env_cfg.frame_stack)
        steps = ((step.frame, step.info) for step in rollout(env_cfg, agent, n, 0.0, seed))
    ram_objects = AtariRamObjects(game)
    frames, objects, infos = [], [], []
    for frame, info in steps:
        frames.append(perceived_frame(frame, info))  # the frame the pipeline's perception reads
        objects.append(ram_objects(info["ram"], (frame.shape[1], frame.shape[0])))
        infos.append({"ram": info["ram"]})
    return np.stack(frames), objects, infos


def teacher_record(folder: Path | None) -> dict:
    """Which teacher played, and what its training's completion record says of it (steps, the
    closing games' returns), so a row names the strength of the play it scores."""
    if folder is None:
        return {"teacher": None}
    record = folder / "complete.json"  # a run's teacher stage; the zoo's folders say it in eval.json
    summary = read_json(record).get("summary", {}) if record.is_file() else {}
    return {"teacher": str(folder), "teacher_timesteps": summary.get("timesteps"),
            "teacher_return_mean": summary.get("return_mean"),
            "teacher_return_std": summary.get("return_std")}


def random_steps(env_cfg: EnvConfig, n: int, seed: int) -> Iterator[tuple[np.ndarray, dict]]:
    """(frame, info) of ``n`` steps of uniformly random actions."""
    from envs import make_env

    env = make_env(env_cfg)
    rng = np.random.default_rng(seed)
    frame, info = env.reset(seed=seed)
    for _ in range(n):
        yield frame, info
        frame, _, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            frame, info = env.reset()
    env.close()


def score(name: str, source: ObjectSource, frames: np.ndarray, objects: list[list[dict]],
          infos: list[dict], cfg: DetectorConfig, type_names: list[str]) -> dict:
    """F1 and friends on the held-out frames, then speed at batch 1 and at batch 64."""
    report, _ = evaluate_source(_Replay(source, infos), frames, objects, cfg, type_names)
    speeds = {}
    for batch in (1, BATCH):
        started = time.perf_counter()
        for i in range(0, len(frames), batch):
            source.detect(frames[i:i + batch], infos[i:i + batch])
        speeds[f"fps_batch{batch}"] = len(frames) / (time.perf_counter() - started)
    return {"source": name, "f1": report["f1"], "precision": report["precision"],
            "recall": report["recall"], "count_acc": report["count_accuracy"], "ap50": report["ap"],
            **speeds, "per_type_recall": {k: round(v["recall"], 3) for k, v in report["per_type"].items()},
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


def type_purity(source: ObjectSource, train: np.ndarray, frames: np.ndarray, objects: list,
                dataset: DatasetConfig, n_true: int, tolerance: float, seed: int) -> dict:
    """Types found without truth (learnt on the training frames' detections as Stage II-B does)
    against the true categories on the held-out frames."""
    detections = source.detect(train)
    if not any(detections):
        return {"n_types": 0, "purity": float("nan")}
    types, fit_info = learn_types(train, detections, dataset, seed)
    confusion = TypeConfusion(len(types.names), n_true, tolerance)
    for frame_detections, truth in zip(source.detect(frames), objects, strict=True):
        centres = np.array([[d.x, d.y] for d in frame_detections]).reshape(-1, 2)
        confusion.add(types.assign(frame_detections), centres, truth)
    return {"n_types": len(types.names), "merged_clusters": fit_info["merged_clusters"],
            "purity": confusion.purity}


def game(name: str, play: str, frames: np.ndarray, objects: list, infos: list, cfg: DetectorConfig,
         type_names: list[str], env_id: str, seed: int, space: bool,
         dataset: DatasetConfig | None = None) -> list[dict]:
    n_eval = cfg.train.eval_frames
    train, test = frames[:-n_eval], slice(len(frames) - n_eval, None)
    rows = []
    for source_name in ("oracle", "segment"):
        source_cfg = from_dict(DetectorConfig, {"source": source_name, "roi": cfg.roi,
                                                "segment": to_dict(cfg.segment),
                                                "eval": {"tolerance": cfg.eval.tolerance}})
        source = OracleSource(env_id) if source_name == "oracle" else make_source(source_cfg, None)
        rows.append(score(source_name, source, frames[test], objects[test], infos[test], source_cfg,
                          type_names))
        if source_name == "segment" and dataset is not None:
            rows[-1].update(type_purity(source, train, frames[test], objects[test], dataset, len(type_names),
                                        cfg.eval.tolerance, seed))
    if space:
        detector, seconds = trained_space(cfg, train, seed)
        source: ObjectSource = RoiFilter(detector, cfg.roi) if cfg.roi else detector
        row = score("space", source, frames[test], objects[test], infos[test], cfg, type_names)
        row.update(train_s=seconds, train_steps=cfg.train.steps, train_frames=len(train))
        rows.append(row)
    for row in rows:
        row.update(game=name, play=play)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4200, help="built-in frames, last 200 held out")
    parser.add_argument("--atari-frames", type=int, default=1200, help="Atari frames per game and play")
    parser.add_argument("--games", default=",".join(ATARI_GAMES))
    parser.add_argument("--space-games", default="Pong", help="Atari games SPACE is trained on ('' for none)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--builtin-steps", type=int, default=None, help="SPACE steps; default: preset")
    parser.add_argument("--atari-steps", type=int, default=None, help="SPACE steps on Atari; default: preset")
    parser.add_argument("--skip-builtin", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teacher", action="append", default=[], metavar="GAME=FOLDER",
                        help="a teacher folder (teacher.zip, config.yaml) whose play is scored for GAME, "
                             "in place of zoo/atari_<game> (e.g. a run's teacher/ stage)")
    args = parser.parse_args()
    teachers = {}
    for item in args.teacher:
        game_name, sep, folder = item.partition("=")
        if not sep or not (Path(folder) / "teacher.zip").is_file():
            parser.error(f"--teacher {item}: expected GAME=FOLDER with a FOLDER/teacher.zip")
        teachers[game_name] = Path(folder)
    torch.set_num_threads(args.threads)
    rows = []

    if not args.skip_builtin:
        cfg = from_dict(DetectorConfig, {"preset": "cpu", "train": {"torch_threads": args.threads,
                                                                     "steps": args.builtin_steps}})
        frames, objects, infos = builtin_frames(args.frames, args.seed)
        rows += game("BuiltinPong-v0", "random", frames, objects, infos, cfg, list(BuiltinPong.OBJECT_TYPES),
                     "BuiltinPong-v0", args.seed, space=True)

    space_games = {g for g in args.space_games.split(",") if g}
    for name in [g for g in args.games.split(",") if g]:
        config = load_config(ROOT / "configs" / f"atari_{name.lower()}.yaml")
        cfg = from_dict(DetectorConfig, {
            "preset": "atari_cpu", "roi": config.detector.roi, "segment": to_dict(config.detector.segment),
            "eval": {"tolerance": 5.0}, "train": {"steps": args.atari_steps, "torch_threads": args.threads},
        })
        teacher = teachers.get(name, ROOT / "zoo" / f"atari_{name.lower()}")
        plays = [("random", None)] + ([("teacher", teacher)] if (teacher / "teacher.zip").is_file() else [])
        for play, folder in plays:
            frames, objects, infos = atari_frames(name, args.atari_frames, args.seed, folder)
            played = game(name, play, frames, objects, infos, cfg, AtariRamObjects(name).type_names,
                          config.env.id, args.seed, space=name in space_games and play == "random",
                          dataset=config.dataset)
            record = teacher_record(folder)
            rows += [{**row, **record} for row in played]

    columns = ["game", "play", "source", "f1", "precision", "recall", "count_acc", "n_types", "purity",
               "fps_batch1", f"fps_batch{BATCH}", "train_s", "train_steps"]
    print(table(rows, columns))
    for row in rows:
        print(f"{row['game']} {row['play']} {row['source']}: recall per type {row['per_type_recall']}")
    # rows of games not run this time are kept; each row says when and under what load it was measured
    measured = machine()
    rows = merged_rows("detector", [{**row, "machine": measured} for row in rows],
                       key=lambda row: (row["game"], row["play"], row["source"]))
    path = save("detector", {"rows": rows, "atari_space_preset": "atari_cpu"})
    print(f"results -> {path}")


if __name__ == "__main__":
    main()
