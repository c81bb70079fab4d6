"""Speed of the segment source on raw Atari screens, the code before a change and now, in one run.

    .venv/bin/python bench/segment_speed.py [--before COMMIT] [--games Pong,Freeway,...] [--frames 200]
        [--rounds 3] [--repeats 3]

The screens are the last ``--frames`` of 400 steps of random play per game (``bench/detector.py``'s
frames), saved once and read by both; each game's ``configs/atari_<game>.yaml`` segment settings.
The code before runs from a temporary git worktree of ``--before``, in its own interpreter, as the
code now does, the two taking turns for ``--rounds`` rounds of ``--repeats`` passes each, so that
a slow spell of a shared machine falls on both. Per game and code: frames per CPU second and per
wall second at batch 1 and at batch 64 (the best pass, since a shared machine only ever slows a
pass down), and whether both codes give the same detections bit for bit. The code now also runs
with ``segment.workers: 2`` (each batch shared with one spawned process), at batch 64. Target
(issue 18): >= 500 frames/s at batch 64 on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import ROOT, run_in, save, table, worktree  # noqa: I001  (puts the repository on sys.path)

BEFORE = "b62df92"  # the segment source before OpenCV's labelling and the kept colours
GAMES = ("Pong", "Freeway", "Boxing", "Breakout", "SpaceInvaders")
BATCHES = (1, 64)


def worker(game: str, frames_path: str, repeats: int, workers: int = 1) -> dict:
    """Frames per second of the segment source importable from the working directory (sharing a
    batch with ``workers`` - 1 processes), and a digest of its detections."""
    from common.config import from_dict, to_dict
    from pipeline.config import load_config
    from space.config import DetectorConfig
    from space.sources import make_source

    detector = load_config(Path("configs") / f"atari_{game.lower()}.yaml").detector
    segment = {**to_dict(detector.segment), **({"workers": workers} if workers > 1 else {})}
    source = make_source(from_dict(DetectorConfig, {"source": "segment", "roi": detector.roi,
                                                    "segment": segment}), None)
    frames = np.load(frames_path)
    digest = hashlib.sha256()
    for frame_detections in source.detect(frames):
        for d in frame_detections:
            digest.update(np.array([d.x, d.y, d.width, d.height, d.score]).tobytes() + d.embedding.tobytes())
    out = {"detections_sha256": digest.hexdigest()}
    for batch in BATCHES:
        cpu, wall = [], []
        for _ in range(repeats):
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            for i in range(0, len(frames), batch):
                source.detect(frames[i:i + batch])
            cpu.append(time.process_time() - cpu_start)
            wall.append(time.perf_counter() - wall_start)
        out[f"cpu_fps_batch{batch}"] = len(frames) / min(cpu)
        out[f"wall_fps_batch{batch}"] = len(frames) / min(wall)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help="commit of the code before (default %(default)s)")
    parser.add_argument("--games", default=",".join(GAMES))
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from detector import atari_frames

    rows = []
    with tempfile.TemporaryDirectory() as folder, worktree(args.before) as before:
        for game in args.games.split(","):
            frames_path = Path(folder) / f"{game}.npy"
            np.save(frames_path, atari_frames(game, 400, 0)[0][-args.frames:])
            codes = (("before", before, 1), ("now", ROOT, 1), ("now_2_processes", ROOT, 2))
            rounds = [{name: run_in(root, "segment_speed", "space", game, str(frames_path), args.repeats,
                                    workers) for name, root, workers in codes} for _ in range(args.rounds)]
            digests = {run[name]["detections_sha256"] for run in rounds for name in run}
            row = {"game": game, "same_detections": len(digests) == 1}
            for name, _, workers in codes:
                for key in rounds[0][name]:
                    if key != "detections_sha256" and (workers == 1 or key == "wall_fps_batch64"):
                        row[f"{name}_{key}"] = max(run[name][key] for run in rounds)
            row["speedup_batch64"] = row["now_wall_fps_batch64"] / row["before_wall_fps_batch64"]
            rows.append(row)
    print(table(rows, ["game", "before_wall_fps_batch1", "now_wall_fps_batch1", "before_wall_fps_batch64",
                       "now_wall_fps_batch64", "speedup_batch64", "now_2_processes_wall_fps_batch64",
                       "same_detections"]))
    path = save("segment_speed", {"before": args.before, "frames": args.frames, "rounds": args.rounds,
                                  "repeats": args.repeats, "rows": rows})
    print(f"results -> {path}")


if __name__ == "__main__":
    main()
