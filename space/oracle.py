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


class TrueObjects:
    """The game's true objects of a frame, privileged (diagnostics and the oracle source only): a
    built-in game's ``info["objects"]``, or OCAtari's RAM extraction from ``info["ram"]`` for an
    Atari game it knows. ``type_names`` is None where the game has no truth (retro games)."""

    def __init__(self, env_id: str | None = None):
        from envs import BUILTIN_GAMES, env_kind

        self._ram: AtariRamObjects | None = None
        self.type_names: list[str] | None = None
        kind = env_kind(env_id) if env_id is not None else None
        if kind == "builtin":
            self.type_names = list(BUILTIN_GAMES[env_id].OBJECT_TYPES)
        elif kind == "atari":
            try:
                self._ram = AtariRamObjects(atari_game(env_id))
                self.type_names = self._ram.type_names
            except UserError:  # OCAtari does not know this game
                pass

    def __call__(self, info: dict, frame_size: tuple[int, int]) -> list[dict] | None:
        """The objects as {type, x, y, width, height[, vx, vy]} in a (width, height) frame."""
        if "objects" in info:
            return info["objects"]
        if "ram" in info and self._ram is not None:
            return self._ram(info["ram"], frame_size)
        return None


class OracleSource:
    """Detections from the game's own knowledge; needs the ``info`` dict of each frame."""

    def __init__(self, env_id: str | None = None):
        self.env_id = env_id
        self._truth: TrueObjects | None = None

    def detect(self, frames: np.ndarray, infos: list[dict] | None = None) -> list[list[Detection]]:
        if infos is None or len(infos) != len(frames):
            raise UserError("the oracle source needs the info dict of every frame (the game's true objects)")
        if self._truth is None:
            self._truth = TrueObjects(self.env_id)
        h, w = np.shape(frames)[1:3]
        detections = []
        for info in infos:
            objects = self._truth(info, (w, h))
            if objects is None:
                raise UserError(
                    f"no true objects for {self.env_id or 'this game'}: the oracle source needs "
                    "info['objects'] (built-in games) or info['ram'] (Atari games OCAtari knows); "
                    "choose detector.source=space or segment")
            detections.append([self._detection(o) for o in objects])
        return detections

    @staticmethod
    def _detection(obj: dict) -> Detection:
        embedding = np.array([obj["type"], obj["width"], obj["height"]], dtype=np.float32)
        return Detection(float(obj["x"]), float(obj["y"]), float(obj["width"]), float(obj["height"]),
                         1.0, embedding, int(obj["type"]))
