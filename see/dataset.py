"""The object-state dataset on disk: streamed writing, the one reader, and the validator.

``dataset.json`` keeps DiffSES's schema, a JSON list of entries
``{"state": [object, ...], "teacher_action": int}`` with optional ``teacher_probs``, ``episode``
and ``step``; an object is ``{"type", "x_velocity", "y_velocity", "x_position", "y_position"}``
with optional ``width``, ``height``, ``score``. ``dataset.meta.json`` beside it (``X.json`` ->
``X.meta.json``) says how states were made and how to read them (see ``load_dataset``).

    python -m see.dataset validate runs/NAME/dataset.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

from common.errors import UserError

OBJECT_FIELDS = ("type", "x_velocity", "y_velocity", "x_position", "y_position")
OPTIONAL_OBJECT_FIELDS = ("width", "height", "score")


def meta_path(path: str | Path) -> Path:
    """``runs/x/dataset.json`` -> ``runs/x/dataset.meta.json``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.meta.json")


class DatasetWriter:
    """Writes entries one by one into a temporary file beside ``path``; renamed into place on a clean exit.

    Nothing but complete datasets ever sits at ``path``: an exception (or Ctrl-C) removes the
    temporary file, and a killed process leaves only a hidden ``.NAME.*.tmp`` that
    ``remove_partial`` clears.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.count = 0
        self._handle = None
        self._tmp: Path | None = None

    def __enter__(self) -> DatasetWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        self._tmp = Path(tmp)
        self._handle = os.fdopen(fd, "w")
        self._handle.write("[")
        return self

    def write(self, entry: dict) -> None:
        self._handle.write(("\n" if self.count == 0 else ",\n") + json.dumps(entry, separators=(",", ":")))
        self.count += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if kind is None:
                self._handle.write("\n]\n")
                self._handle.flush()
                os.fsync(self._handle.fileno())
            self._handle.close()
            if kind is None:
                os.replace(self._tmp, self.path)
        finally:
            if self._tmp is not None:
                self._tmp.unlink(missing_ok=True)


def remove_partial(path: str | Path) -> None:
    """Delete temporary files a killed writer left beside ``path``."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def load_dataset(path: str | Path) -> tuple[list[dict], dict]:
    """Read and check a dataset -> (entries, meta); any problem is a ``UserError`` naming entry and field.

    ``meta`` is ``X.meta.json`` where it exists, completed from the data otherwise, and always has
    ``object_types`` (names, index = type), ``n_actions``, ``action_names``, ``agent_type`` (type
    index of the agent's own object or None) and ``image_size`` ([height, width] or None).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no dataset at {path}; run generate_dataset.py first or check the path")
    entries = _read_json(path)
    meta_file = meta_path(path)
    meta = _read_json(meta_file) if meta_file.is_file() else {}
    if not isinstance(meta, dict):
        raise UserError(f"{meta_file} must hold a JSON object, got {type(meta).__name__}")
    _check_list(entries, str(path))
    meta = _complete_meta(meta, entries, path)
    validate_entries(entries, meta["n_actions"], len(meta["object_types"]), str(path))
    return entries, meta


def validate_entries(entries: Any, n_actions: int | None, n_types: int | None,
                     where: str = "dataset") -> None:
    """Raise a ``UserError`` at the first entry and field that break the schema."""
    _check_list(entries, where)
    for i, entry in enumerate(entries):
        _check_entry(entry, n_actions, n_types, f"{where}: entry {i}")


def _check_list(entries: Any, where: str) -> None:
    if not isinstance(entries, list):
        raise UserError(f"{where}: must be a JSON list of entries, got {_kind(entries)}")
    if not entries:
        raise UserError(f"{where}: holds no entries")


def _check_entry(entry: Any, n_actions: int | None, n_types: int | None, at: str) -> None:
    if not isinstance(entry, dict):
        raise UserError(f"{at}: must be an object with 'state' and 'teacher_action', got {_kind(entry)}")
    for key in ("state", "teacher_action"):
        if key not in entry:
            raise UserError(f"{at}: missing '{key}'")
    state = entry["state"]
    if not isinstance(state, list):
        raise UserError(f"{at}: 'state' must be a list of objects, got {_kind(state)}")
    if not state:
        raise UserError(f"{at}: 'state' is an empty list; every state needs at least one object")
    for j, obj in enumerate(state):
        _check_object(obj, n_types, f"{at}: state[{j}]")
    action = entry["teacher_action"]
    if not _is_int(action):
        raise UserError(f"{at}: 'teacher_action' must be an integer, got {action!r}")
    if action < 0 or (n_actions is not None and action >= n_actions):
        raise UserError(f"{at}: 'teacher_action' {action} is out of range; "
                        f"actions are 0..{(n_actions or 1) - 1}")
    if "teacher_probs" in entry:
        probs = entry["teacher_probs"]
        if not isinstance(probs, list) or not all(_is_number(p) and p >= 0 for p in probs):
            raise UserError(f"{at}: 'teacher_probs' must be a list of non-negative numbers, got {probs!r}")
        if n_actions is not None and len(probs) != n_actions:
            raise UserError(f"{at}: 'teacher_probs' has {len(probs)} values for {n_actions} actions")
        if abs(sum(probs) - 1.0) > 1e-3:
            raise UserError(f"{at}: 'teacher_probs' sum to {sum(probs):.4f}, not 1")
    for key in ("episode", "step"):
        if key in entry and not (_is_int(entry[key]) and entry[key] >= 0):
            raise UserError(f"{at}: '{key}' must be a non-negative integer, got {entry[key]!r}")


def _check_object(obj: Any, n_types: int | None, at: str) -> None:
    if not isinstance(obj, dict):
        raise UserError(f"{at}: must be an object with {', '.join(OBJECT_FIELDS)}, got {_kind(obj)}")
    for key in OBJECT_FIELDS:
        if key not in obj:
            raise UserError(f"{at}: missing '{key}'")
    kind = obj["type"]
    if not _is_int(kind) or kind < 0:
        raise UserError(f"{at}: 'type' must be a non-negative integer, got {kind!r}")
    if n_types is not None and kind >= n_types:
        raise UserError(f"{at}: 'type' {kind} is out of range; the meta file names {n_types} types")
    for key in (*OBJECT_FIELDS[1:], *OPTIONAL_OBJECT_FIELDS):
        if key in obj and not _is_number(obj[key]):
            raise UserError(f"{at}: '{key}' must be a finite number, got {obj[key]!r}")


def _complete_meta(meta: dict, entries: list, path: Path) -> dict:
    """Fill what a reader needs from the data where the meta file is missing or says nothing."""
    meta = dict(meta)
    rows = [e for e in entries if isinstance(e, dict)]
    names = meta.get("action_names")
    n_actions = meta.get("n_actions")
    if n_actions is None and names:
        n_actions = len(names)
    if n_actions is None:  # no meta: the probabilities' length, else the largest action seen
        probs = rows[0].get("teacher_probs") if rows else None
        n_actions = len(probs) if isinstance(probs, list) else max(
            (e["teacher_action"] for e in rows if _is_int(e.get("teacher_action"))), default=0) + 1
    if not _is_int(n_actions) or n_actions < 1:
        raise UserError(f"{meta_path(path)}: 'n_actions' must be a positive integer, got {n_actions!r}")
    meta["n_actions"] = n_actions
    meta["action_names"] = list(names) if names else [f"action{i}" for i in range(n_actions)]
    types = meta.get("object_types")
    if types is None:
        seen = [o.get("type") for e in rows if isinstance(e.get("state"), list)
                for o in e["state"] if isinstance(o, dict)]
        types = [f"type{k}" for k in range(max((t for t in seen if _is_int(t)), default=-1) + 1)]
    meta["object_types"] = list(types)
    agent = meta.get("agent_type")
    if isinstance(agent, str):  # files written before the index was used name the agent's type
        agent = types.index(agent) if agent in types else None
    if agent is not None and not (_is_int(agent) and 0 <= agent < len(types)):
        raise UserError(f"{meta_path(path)}: 'agent_type' {agent!r} is not a type index of {types}")
    meta["agent_type"] = agent
    meta.setdefault("image_size", None)
    return meta


def summarize(entries: list[dict], meta: dict) -> str:
    """One paragraph: size, episodes, action shares, objects per state, objects per type."""
    actions = Counter(e["teacher_action"] for e in entries)
    types = Counter(o["type"] for e in entries for o in e["state"])
    names, action_names = meta["object_types"], meta["action_names"]
    episodes = len({e["episode"] for e in entries if "episode" in e})
    share = ", ".join(f"{action_names[a]} {actions[a] / len(entries):.0%}" for a in range(meta["n_actions"]))
    kinds = ", ".join(f"{names[t] if t < len(names) else t} {n}" for t, n in sorted(types.items()))
    agent = names[meta["agent_type"]] if meta["agent_type"] is not None else "unknown"
    plural = "s" * (episodes != 1)
    return (f"{len(entries)} entries" + (f" from {episodes} episode{plural}" if episodes else "")
            + f"; teacher actions: {share}; {sum(types.values()) / len(entries):.2f} objects per state"
            + f"; objects per type: {kinds}; agent type: {agent}")


def _read_json(path: Path) -> Any:
    try:
        with open(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not JSON text (not UTF-8)") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", type(None): "null"}
    return names.get(type(value), repr(value))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m see.dataset", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="check a dataset against the schema and summarise it")
    check.add_argument("file", help="dataset JSON file, e.g. runs/NAME/dataset.json")
    args = parser.parse_args(argv)
    entries, meta = load_dataset(args.file)
    print(f"{args.file}: valid; {summarize(entries, meta)}")


if __name__ == "__main__":
    from common.cli import run_cli

    run_cli(main)
