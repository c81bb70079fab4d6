"""Run folders and stage folders: where artifacts live and when they count as finished.

A run folder ``runs/NAME/`` holds ``run.json`` (which environment it belongs to) and one folder
per stage. A stage folder is *complete* once ``complete.json`` is written, last, atomically; it
records the fingerprint of the config that made it, so the pipeline runner can tell a finished
stage from one made with other settings.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from common.config import dump_yaml, fingerprint
from common.errors import UserError
from common.io import read_json, write_json, write_text

RUN_MARKER = "run.json"
COMPLETE = "complete.json"


class StageDir:
    """One stage's folder inside a run: prepare it, resume it, mark it complete."""

    def __init__(self, run: Path, name: str, producer: str):
        self.run = run
        self.name = name
        self.producer = producer
        self.path = run / name

    @property
    def complete(self) -> bool:
        return (self.path / COMPLETE).is_file()

    @property
    def started(self) -> bool:
        return self.path.is_dir() and any(self.path.iterdir())

    def record(self) -> dict:
        return read_json(self.path / COMPLETE)

    def require_complete(self) -> StageDir:
        """Used by later stages to check that their input exists."""
        if not self.complete:
            raise UserError(
                f"no finished {self.name} in {self.run}; run {self.producer} --run {self.run} first"
            )
        return self

    def check_writable(self, resume: bool, force: bool) -> None:
        """Refuse to overwrite a finished stage or to restart an interrupted one by accident."""
        if self.complete and not force:
            raise UserError(
                f"{self.path} is already complete; pass --force to replace it"
            )
        if self.started and not self.complete and not (resume or force):
            raise UserError(
                f"{self.path} holds an interrupted {self.name}; pass --resume to continue it "
                "or --force to start over"
            )

    def prepare(self, config: Any, section_fingerprint: str, resume: bool, force: bool) -> Path:
        """Create the folder (emptied with --force) and save the resolved config beside it."""
        self.check_writable(resume, force)
        if force and self.path.exists():
            shutil.rmtree(self.path)
        saved = self.path / "fingerprint.txt"
        if resume and saved.is_file() and saved.read_text().strip() != section_fingerprint:
            raise UserError(
                f"{self.path} was started with other settings; resume with the same config "
                "or pass --force to start over"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        write_text(self.path / "config.yaml", dump_yaml(config))
        write_text(saved, section_fingerprint + "\n")
        return self.path

    def finish(self, section_fingerprint: str, summary: dict) -> None:
        write_json(
            self.path / COMPLETE,
            {"fingerprint": section_fingerprint, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
             "summary": summary},
        )


class RunFolder:
    """``runs/NAME/``: checks that it belongs to this project and to the configured game."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def open(self, env_id: str, create: bool) -> RunFolder:
        marker = self.path / RUN_MARKER
        if marker.is_file():
            owner = read_json(marker).get("env_id")
            if owner != env_id:
                raise UserError(
                    f"run folder {self.path} belongs to {owner}, but the config is for {env_id}; "
                    "use another --run or the matching config"
                )
            return self
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise UserError(
                f"{self.path} exists but is not a run folder of this project (no {RUN_MARKER}); "
                "choose a new --run path"
            )
        if not create:
            raise UserError(
                f"run folder {self.path} does not exist; run train_visual_rl.py --run {self.path} first"
            )
        return self

    def create_marker(self, env_id: str) -> None:
        """Written when the first stage actually starts, so a refused command leaves nothing."""
        if not (self.path / RUN_MARKER).is_file():
            write_json(self.path / RUN_MARKER, {"env_id": env_id, "project": "diffses"})

    def stage(self, name: str, producer: str) -> StageDir:
        return StageDir(self.path, name, producer)


def section_fingerprint(config: Any, sections: tuple[str, ...]) -> str:
    """Fingerprint of the seed and the config sections a stage depends on."""
    return fingerprint({"seed": config.seed, **{s: getattr(config, s) for s in sections}})
