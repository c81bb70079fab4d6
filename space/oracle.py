"""The true objects as an object source: the upper bound that the learned detectors are scored against.

Built-in games put their objects in ``info["objects"]``. For Atari, OCAtari reads the objects
from the console's RAM (``info["ram"]``, 128 bytes) in the 160x210 screen; boxes are scaled to
the observation frame, so they line up with resized frames.
"""

from __future__ import annotations

import importlib
import os

import numpy as np

from common.errors import UserError
from space.detection import Detection

ATARI_SCREEN = (160, 210)  # width, height of the ALE screen


def atari_game(env_id: str) -> str:
    """'ALE/Pong-v5' or 'PongNoFrameskip-v4' -> 'Pong' (OCAtari's game names)."""
    name = env_id.split("/")[-1].split("-")[0]
    for suffix in ("NoFrameskip", "Deterministic"):
        name = name.split(suffix)[0]
    return name


class AtariRamObjects:
    """OCAtari's RAM extraction for one game, frame after frame (some games track objects)."""

    def __init__(self, game: str, hud: bool = False):
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            from ocatari.ram import extract_ram_info

            module = importlib.import_module(f"ocatari.ram.{game.lower()}")
        except ImportError as exc:
            raise UserError(
                f"OCAtari has no RAM extraction for '{game}' ({exc}); use another source"
            ) from None
        self.game, self.hud = game, hud
        self._extract = extract_ram_info
        self.type_names = list(module.MAX_NB_OBJECTS_HUD if hud else module.MAX_NB_OBJECTS)
        self.objects = extract_ram_info.init_objects(game, hud)

    def __call__(self, ram: np.ndarray, frame_size: tuple[int, int]) -> list[dict]:
        """Objects as {type, x, y, width, height} in a (width, height) frame."""
        self._extract.detect_objects_ram(self.objects, np.asarray(ram), self.game, self.hud)
        sx, sy = frame_size[0] / ATARI_SCREEN[0], frame_size[1] / ATARI_SCREEN[1]
        found = []
        for obj in self.objects:
            if not obj or obj.category not in self.type_names or obj.w <= 0 or obj.h <= 0:
                continue
            found.append({"type": self.type_names.index(obj.category), "x": (obj.x + obj.w / 2) * sx,
                          "y": (obj.y + obj.h / 2) * sy, "width": obj.w * sx, "height": obj.h * sy})
        return found


class OracleSource:
    """Detections from the game's own knowledge; needs the ``info`` dict of each frame."""

    def __init__(self, env_id: str | None = None):
        self.env_id = env_id
        self._ram: AtariRamObjects | None = None

    def detect(self, frames: np.ndarray, infos: list[dict] | None = None) -> list[list[Detection]]:
        if infos is None or len(infos) != len(frames):
            raise UserError("the oracle source needs the info dict of every frame (the game's true objects)")
        h, w = np.shape(frames)[1:3]
        return [[self._detection(o) for o in self._objects(info, (w, h))] for info in infos]

    def _objects(self, info: dict, frame_size: tuple[int, int]) -> list[dict]:
        if "objects" in info:
            return info["objects"]
        if "ram" in info and self.env_id is not None:
            if self._ram is None:
                self._ram = AtariRamObjects(atari_game(self.env_id))
            return self._ram(info["ram"], frame_size)
        raise UserError(
            f"no true objects for {self.env_id or 'this game'}: the oracle source needs info['objects'] "
            "(built-in games) or info['ram'] (Atari); choose detector.source=space or segment"
        )

    @staticmethod
    def _detection(obj: dict) -> Detection:
        embedding = np.array([obj["type"], obj["width"], obj["height"]], dtype=np.float32)
        return Detection(float(obj["x"]), float(obj["y"]), float(obj["width"]), float(obj["height"]),
                         1.0, embedding, int(obj["type"]))
