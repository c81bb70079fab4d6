"""Frame shards: compressed ``.npz`` files of frames with their true objects, for the detector.

A shard holds ``frames`` (N, H, W, 3) uint8 and, where the game knows them, the true objects
flattened: ``obj_frame`` (M,) index of the frame, ``obj_type`` (M,), ``obj_box`` (M, 4) centre x,
centre y, width, height in pixels, ``obj_vel`` (M, 2). ``frames/meta.json`` lists the shards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import UserError
from common.io import atomic_write, read_json


@dataclass
class Shard:
    frames: np.ndarray
    objects: list[list[dict]] | None  # per frame, dicts as in info["objects"]; None if unknown


def write_shard(path: Path, frames: np.ndarray, objects: list[list[dict]] | None) -> Path:
    arrays = {"frames": np.asarray(frames, dtype=np.uint8)}
    if objects is not None:
        flat = [(i, o) for i, frame_objects in enumerate(objects) for o in frame_objects]
        arrays["obj_frame"] = np.array([i for i, _ in flat], dtype=np.int32)
        arrays["obj_type"] = np.array([o["type"] for _, o in flat], dtype=np.int32)
        arrays["obj_box"] = np.array(
            [[o["x"], o["y"], o["width"], o["height"]] for _, o in flat], dtype=np.float32
        ).reshape(-1, 4)
        arrays["obj_vel"] = np.array(
            [[o.get("vx", 0.0), o.get("vy", 0.0)] for _, o in flat], dtype=np.float32
        ).reshape(-1, 2)

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    return atomic_write(path, save)


def read_shard(path: Path) -> Shard:
    with np.load(path) as data:
        frames = data["frames"]
        if "obj_frame" not in data:
            return Shard(frames, None)
        objects: list[list[dict]] = [[] for _ in range(len(frames))]
        for i, t, box, vel in zip(data["obj_frame"], data["obj_type"], data["obj_box"], data["obj_vel"],
                                   strict=True):
            objects[int(i)].append(
                {"type": int(t), "x": float(box[0]), "y": float(box[1]), "width": float(box[2]),
                 "height": float(box[3]), "vx": float(vel[0]), "vy": float(vel[1])}
            )
    return Shard(frames, objects)


def shard_paths(frames_dir: Path) -> list[Path]:
    meta = frames_dir / "meta.json"
    if not meta.is_file():
        raise UserError(f"no frames in {frames_dir}; run save_frames.py first")
    return [frames_dir / name for name in read_json(meta)["shards"]]


def iter_shards(frames_dir: Path) -> Iterator[Shard]:
    for path in shard_paths(frames_dir):
        yield read_shard(path)


def load_frames(frames_dir: Path, limit: int | None = None) -> Shard:
    """All frames (up to ``limit``) in one array with their objects."""
    frames, objects, known = [], [], True
    count = 0
    for shard in iter_shards(frames_dir):
        frames.append(shard.frames)
        known = known and shard.objects is not None
        objects.extend(shard.objects or [[] for _ in shard.frames])
        count += len(shard.frames)
        if limit is not None and count >= limit:
            break
    stacked = np.concatenate(frames)[:limit]
    return Shard(stacked, objects[: len(stacked)] if known else None)
