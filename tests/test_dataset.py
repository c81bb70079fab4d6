"""The dataset file: streamed writing never leaves half a file, the reader names the first problem."""

import json

import pytest

from common.errors import UserError
from see.dataset import DatasetWriter, load_dataset, meta_path, remove_partial, summarize
from see.dataset import main as validator
from tests.helpers import run_script


def entry(action=1, episode=0, step=0, **fields):
    obj = {"type": 0, "x_velocity": 0.0, "y_velocity": 1.0, "x_position": 10.0, "y_position": 20.5}
    return {"state": [obj], "teacher_action": action, "teacher_probs": [0.2, 0.7, 0.1],
            "episode": episode, "step": step, **fields}


def write(tmp_path, entries, meta=None, text=None):
    path = tmp_path / "dataset.json"
    path.write_text(text if text is not None else json.dumps(entries))
    if meta is not None:
        meta_path(path).write_text(json.dumps(meta))
    return path


META = {"object_types": ["agent", "ball"], "n_actions": 3, "action_names": ["NOOP", "UP", "DOWN"],
        "agent_type": 0, "image_size": [64, 64]}


def test_writer_streams_a_json_list_and_renames_it_into_place(tmp_path):
    path = tmp_path / "dataset.json"
    entries = [entry(step=k) for k in range(5)]
    with DatasetWriter(path) as writer:
        for e in entries:
            writer.write(e)
            assert not path.exists()  # only complete datasets sit at the final path
    assert json.loads(path.read_text()) == entries
    assert writer.count == 5 and list(tmp_path.iterdir()) == [path]


def test_writer_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "dataset.json"
    path.write_text("[]")
    with pytest.raises(RuntimeError), DatasetWriter(path) as writer:
        writer.write(entry())
        raise RuntimeError("interrupted")
    assert path.read_text() == "[]" and list(tmp_path.iterdir()) == [path]


def test_killed_writer_leaves_only_a_hidden_temporary_that_is_cleared(tmp_path):
    path = tmp_path / "dataset.json"
    writer = DatasetWriter(path).__enter__()  # a process killed mid-write never reaches __exit__
    writer.write(entry())
    writer._handle.flush()
    leftovers = list(tmp_path.iterdir())
    assert not path.exists() and len(leftovers) == 1 and leftovers[0].name.startswith(".dataset.json.")
    remove_partial(path)
    assert list(tmp_path.iterdir()) == []


def test_valid_dataset_reads_with_its_meta(tmp_path):
    path = write(tmp_path, [entry(), entry(action=2, step=1)], META)
    entries, meta = load_dataset(path)
    assert len(entries) == 2 and meta["agent_type"] == 0 and meta["n_actions"] == 3
    assert "2 entries" in summarize(entries, meta) and "UP 50%" in summarize(entries, meta)


def test_meta_is_completed_from_the_data_and_old_agent_names_become_indices(tmp_path):
    path = write(tmp_path, [{"state": entry()["state"], "teacher_action": 4}])
    _, meta = load_dataset(path)
    assert meta["n_actions"] == 5 and meta["object_types"] == ["type0"] and meta["agent_type"] is None
    old_meta = {**META, "n_actions": None, "action_names": None, "agent_type": "ball"}
    meta_path(path).write_text(json.dumps(old_meta))
    path.write_text(json.dumps([entry()]))
    _, meta = load_dataset(path)
    assert meta["n_actions"] == 3 and meta["agent_type"] == 1


def bad(**changes):
    e = entry()
    for key, value in changes.items():
        if value is ...:
            del e[key]
        else:
            e[key] = value
    return [entry(), entry(), e]


@pytest.mark.parametrize(
    ("entries", "text", "message"),
    [
        (None, "[{\"state\": [", "is not JSON"),
        (None, "", "is not JSON"),
        ({"state": []}, None, "must be a JSON list"),
        ([], None, "holds no entries"),
        ([entry(), 3], None, "entry 1: must be an object"),
        (bad(teacher_action=...), None, "entry 2: missing 'teacher_action'"),
        (bad(state=...), None, "entry 2: missing 'state'"),
        (bad(state=[]), None, "entry 2: 'state' is an empty list"),
        (bad(state={"type": 0}), None, "entry 2: 'state' must be a list"),
        (bad(teacher_action="1"), None, "entry 2: 'teacher_action' must be an integer"),
        (bad(teacher_action=True), None, "entry 2: 'teacher_action' must be an integer"),
        (bad(teacher_action=3), None, "entry 2: 'teacher_action' 3 is out of range"),
        (bad(teacher_probs=[0.5, 0.5]), None, "entry 2: 'teacher_probs' has 2 values"),
        (bad(teacher_probs=[0.5, 0.6, 0.1]), None, "entry 2: 'teacher_probs' sum to"),
        (bad(episode=-1), None, "entry 2: 'episode' must be a non-negative integer"),
        (bad(state=[{"type": 0, "x_velocity": 0, "y_velocity": 0, "x_position": "3", "y_position": 1}]),
         None, "entry 2: state[0]: 'x_position' must be a finite number"),
        (bad(state=[{"type": 0, "x_velocity": 0, "y_velocity": 0, "x_position": 3}]),
         None, "entry 2: state[0]: missing 'y_position'"),
        (bad(state=[{**entry()["state"][0], "type": 2}]), None, "state[0]: 'type' 2 is out of range"),
        (bad(state=[{**entry()["state"][0], "type": 1.0}]), None, "'type' must be a non-negative integer"),
        (bad(state=[{**entry()["state"][0], "width": None}]), None, "state[0]: 'width' must be a finite"),
    ],
)
def test_malformed_dataset_names_entry_and_field(tmp_path, entries, text, message):
    path = write(tmp_path, entries, META, text)
    with pytest.raises(UserError, match="^" + str(path)) as caught:
        load_dataset(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_missing_file_and_bad_meta_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="generate_dataset.py"):
        load_dataset(tmp_path / "nope.json")
    path = write(tmp_path, [entry()], {**META, "agent_type": 7})
    with pytest.raises(UserError, match="agent_type"):
        load_dataset(path)


def test_validator_command_line_fails_with_one_error_line(tmp_path):
    path = write(tmp_path, [entry(), entry(), entry(state=[])], META)
    result = run_script("-m", "see.dataset", "validate", str(path), timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: entry 2: 'state' is an empty list; every state needs at least one object"]


def test_validator_summarises_a_valid_dataset(tmp_path, capsys):
    path = write(tmp_path, [entry(), entry(action=0, step=1)], META)
    validator(["validate", str(path)])
    assert "valid; 2 entries from 1 episode;" in capsys.readouterr().out
