"""``python -m space train | eval | show --config configs/X.yaml --run runs/NAME [key=value ...]``.

train: fit SPACE on ``runs/NAME/frames/`` (or just set up the segment/oracle source), evaluate it on
the held-out frames and mark ``runs/NAME/space/`` complete. eval: score the configured source again
(``eval.json``, ``eval.png``). show: ``show.png`` with SPACE's reconstruction, foreground, background
and boxes (or the detections of another source) on held-out frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from common.errors import UserError
from common.io import read_json
from common.runs import StageDir
from common.shards import Shard, load_frames
from pipeline.cli import StageArgs, parse_stage_args, stage_parser
from space.config import DetectorConfig
from space.evaluate import evaluate_source, run_source, summary_line, write_report
from space.plots import detection_grid, draw_boxes, write_png
from space.sources import ObjectSource, RoiFilter, make_source

STAGE = "space"
PRODUCER = "python -m space train"
SECTIONS = ("env", "frames", "detector")
READS = ("frames",)
COMMANDS = ("train", "eval", "show")
USAGE = (
    "usage: python -m space {train,eval,show} --config configs/X.yaml --run runs/NAME [options] "
    "[key=value ...]\n"
    "  train  fit the detector on the run's frames, evaluate it, mark the stage complete\n"
    "  eval   score the configured object source on the held-out frames (eval.json, eval.png)\n"
    "  show   draw reconstructions and detections on held-out frames (show.png)\n"
    "python -m space COMMAND --help lists every option and config key"
)


def main(argv: list[str]) -> dict | None:
    """Run one command; ``train`` and ``eval`` return their summary (as run_pipeline.py expects)."""
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return None
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        raise UserError(f"unknown command '{command}'; use one of {', '.join(COMMANDS)}")
    parser = stage_parser(f"SPACE object detector: {command}. Model and training keys left at None "
                          "take the value of detector.preset (cpu or atari).", ("detector",))
    parser.prog = f"python -m space {command}"
    args = parse_stage_args(parser, rest, create_run=False)
    return {"train": train, "eval": evaluate, "show": show}[command](args)


def split(shard: Shard, cfg: DetectorConfig) -> tuple[np.ndarray, Shard]:
    """Training frames and the held-out last frames (with their objects) for evaluation."""
    n = len(shard.frames)
    n_eval = min(cfg.train.eval_frames, n // 5)
    if n - n_eval < 1:
        raise UserError(f"only {n} frames in the run; record more with save_frames.py")
    objects = shard.objects[n - n_eval:] if shard.objects is not None else None
    held_out = Shard(shard.frames[n - n_eval:], objects)
    return shard.frames[:n - n_eval], held_out


def train(args: StageArgs) -> dict:
    config, cfg = args.config, args.config.detector
    stage = args.run.stage(STAGE, PRODUCER)
    stage.check_writable(args.resume, args.force)
    shard = load_frames(args.run.path / "frames", cfg.train.n_frames)
    train_frames, held_out = split(shard, cfg)
    key = stage.key(config, SECTIONS, READS)
    folder = stage.prepare(config, key, args.resume, args.force)
    summary: dict = {"source": cfg.source}
    if cfg.source == "space":
        from space.train import train_space

        scorer = None
        if held_out.objects is not None and len(held_out.frames):
            from space.detector import SpaceDetector

            def scorer(model) -> dict[str, float]:
                source: ObjectSource = SpaceDetector(model, cfg.threshold, cfg.nms_iou)
                if cfg.roi:
                    source = RoiFilter(source, cfg.roi)
                report, _ = evaluate_source(source, held_out.frames, held_out.objects, cfg)
                return {k: report[k] for k in ("f1", "precision", "recall", "count_accuracy")}

        result = train_space(cfg, train_frames, folder, config.seed, args.resume, scorer)
        summary.update(steps=result["steps"], train_seconds=round(result["seconds"], 1),
                       final_loss=result.get("loss"))
        print(f"space: trained {result['steps']} steps in {result['seconds']:.0f} s on "
              f"{len(train_frames)} frames")
    report = _evaluate(args, stage, held_out)
    summary.update({k: report[k] for k in ("f1", "precision", "recall", "count_accuracy", "ap")
                    if k in report})
    stage.finish(key, summary)
    print(summary_line(report))
    return summary


def evaluate(args: StageArgs) -> dict:
    stage = args.run.stage(STAGE, PRODUCER).require_complete()
    cfg = args.config.detector
    _, held_out = split(load_frames(args.run.path / "frames", cfg.train.n_frames), cfg)
    report = _evaluate(args, stage, held_out)
    print(summary_line(report))
    return report


def _evaluate(args: StageArgs, stage: StageDir, held_out: Shard) -> dict:
    cfg = args.config.detector
    torch.set_num_threads(cfg.train.torch_threads)
    source = make_source(cfg, args.run.path, args.config.env.id)
    # the true types saved with the frames (a built-in game's own, OCAtari's on Atari): scores per type
    type_names = read_json(args.run.path / "frames" / "meta.json").get("object_types")
    report, predicted = evaluate_source(source, held_out.frames, held_out.objects, cfg, type_names)
    report["threshold"] = cfg.threshold
    write_report(stage.path, report, held_out.frames, predicted, held_out.objects, cfg.eval.grid_frames,
                 cfg.eval.tolerance)
    return report


def show(args: StageArgs) -> None:
    stage = args.run.stage(STAGE, PRODUCER).require_complete()
    cfg = args.config.detector
    _, held_out = split(load_frames(args.run.path / "frames", cfg.train.n_frames), cfg)
    frames = held_out.frames[: cfg.eval.grid_frames]
    objects = held_out.objects[: len(frames)] if held_out.objects is not None else None
    if cfg.source == "space":
        image = _space_panels(cfg, args.run.path / STAGE, frames[:8])
    else:
        source = make_source(cfg, args.run.path, args.config.env.id)
        predicted, _ = run_source(source, frames, objects if cfg.source == "oracle" else None)
        image = detection_grid(frames, predicted, objects)
    print(f"wrote {write_png(stage.path / 'show.png', image)}")


def _space_panels(cfg: DetectorConfig, folder: Path, frames: np.ndarray) -> np.ndarray:
    """Rows: input, reconstruction, foreground, background, boxes (posterior means)."""
    from space.data import to_tensor
    from space.detector import SpaceDetector
    from space.train import WEIGHTS, priors_at

    model = SpaceDetector.load(folder / WEIGHTS).model
    x = to_tensor(frames, model.cfg.image_size)
    with torch.no_grad():
        out = model(x, priors_at(cfg.train, cfg.train.steps), sample=False)
    lat = model.latents(x)
    rows = [x, out["recon"], out["fg_image"], out["bg_image"],
            draw_boxes(x, lat.centre, lat.scale, lat.pres_prob, cfg.threshold)]
    grid = torch.cat([torch.cat(list(row.clamp(0, 1)), 2) for row in rows], 1)
    image = (grid.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    return np.kron(image, np.ones((2, 2, 1), np.uint8))
