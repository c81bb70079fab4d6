"""Run folders and stage folders: where artifacts live and when they count as finished.

A run folder ``runs/NAME/`` holds ``run.json`` (which environment it belongs to) and one folder
per stage. A stage folder is *complete* once ``complete.json`` is written, last, atomically; it
records the stage's key: the fingerprint of its config sections and the project's version
(``settings``) and of the upstream artifacts it read (each upstream stage's completion record,
each input file's bytes). A stage re-run upstream therefore makes every stage after it stale, and
the pipeline runner can tell a finished stage from a stale one and from one made with other settings.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import tomllib
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from common.config import dump_yaml, fingerprint, to_dict
from common.errors import UserError
from common.io import read_json, write_json, write_text

RUN_MARKER = "run.json"
COMPLETE = "complete.json"
ROOT = Path(__file__).resolve().parents[1]


class StageKey(NamedTuple):
    """What a stage's output depends on: ``settings`` (config sections, seed, project version) and
    ``upstream`` (a digest per input it read); ``value`` fingerprints both."""

    settings: str
    upstream: dict[str, str | None]
    value: str


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

    def key(self, config: Any, sections: tuple[str, ...], reads: tuple[str, ...]) -> StageKey:
        """This stage's key; ``reads`` names upstream stage folders (their completion record counts)
        and files of the run folder (their bytes count)."""
        upstream = {}
        for name in reads:
            path = self.run / name
            path = path / COMPLETE if path.is_dir() else path
            upstream[name] = file_digest(path) if path.is_file() else None
        settings = fingerprint({"config": section_fingerprint(config, sections),
                                "version": project_version()})
        return StageKey(settings, upstream, fingerprint({"settings": settings, "upstream": upstream}))

    def prepare(self, config: Any, key: StageKey, resume: bool, force: bool) -> Path:
        """Create the folder (emptied with --force) and save the resolved config beside it."""
        self.check_writable(resume, force)
        if force and self.path.exists():
            shutil.rmtree(self.path)
        saved = self.path / "fingerprint.txt"
        if resume and saved.is_file() and saved.read_text().strip() != key.value:
            raise UserError(
                f"{self.path} was started with other settings or inputs (an upstream stage was re-run, "
                "or another project version); resume with the same config or pass --force to start over"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        write_text(self.path / "config.yaml", dump_yaml(config))
        write_text(saved, key.value + "\n")
        return self.path

    def finish(self, key: StageKey, summary: dict) -> None:
        write_json(
            self.path / COMPLETE,
            {"fingerprint": key.value, "settings": key.settings, "upstream": key.upstream,
             "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "summary": summary},
        )

    def state(self, key: StageKey) -> str:
        """"complete" (same key), "stale" (same settings, other inputs), "other settings", "started"
        (interrupted) or "new"."""
        if self.complete:
            record = self.record()
            if record["fingerprint"] == key.value:
                return "complete"
            return "stale" if record.get("settings") == key.settings else "other settings"
        return "started" if self.started else "new"


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


def file_digest(path: Path) -> str:
    """Short sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


@cache
def project_version() -> str:
    """The version in pyproject.toml: a new version may make other artifacts, so it is in every key."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


# settings that say how a stage runs, not what it makes: a run resumed on another number of cores
# keeps its key
UNKEYED = ("n_jobs",)


def section_fingerprint(config: Any, sections: tuple[str, ...]) -> str:
    """Fingerprint of the seed and the config sections a stage depends on (``UNKEYED`` aside)."""
    parts = {}
    for name in sections:
        part = to_dict(getattr(config, name))
        parts[name] = {k: v for k, v in part.items() if k not in UNKEYED} if isinstance(part, dict) else part
    return fingerprint({"seed": config.seed, **parts})
