"""Config files, overrides and their errors."""

import pytest

from common.config import apply_overrides, describe, fingerprint, from_dict
from common.errors import UserError
from pipeline.config import Config, load_config


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_and_overrides(tmp_path):
    config = load_config(write(tmp_path, "env: {id: BuiltinFreeway-v0}\n"),
                         ["teacher.n_envs=4", "teacher.learning_rate=7e-4", "env.kwargs={lanes: 3}"], seed=5)
    assert config.env.id == "BuiltinFreeway-v0"
    assert config.teacher.n_envs == 4
    assert config.teacher.learning_rate == pytest.approx(7e-4)
    assert config.env.kwargs == {"lanes": 3}
    assert config.seed == 5


def test_unknown_key_names_key_and_valid_ones(tmp_path):
    with pytest.raises(UserError, match=r"unknown key 'teacher.n_env'.*n_envs"):
        load_config(write(tmp_path, "teacher: {n_env: 3}\n"))
    with pytest.raises(UserError, match=r"unknown key 'tacher'"):
        load_config(write(tmp_path, "tacher: {}\n"))


def test_wrong_types_are_errors():
    with pytest.raises(UserError, match="teacher.n_envs' must be an integer"):
        from_dict(Config, {"teacher": {"n_envs": "many"}})
    with pytest.raises(UserError, match="true or false"):
        from_dict(Config, {"frames": {"deterministic": "yes please"}})
    config = from_dict(Config, {"teacher": {"learning_rate": "lin_2.5e-4"}})
    assert config.teacher.learning_rate == "lin_2.5e-4"


def test_malformed_yaml_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="not valid YAML at line \\d"):
        load_config(write(tmp_path, "env:\n  id: [unclosed\n"))
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(UserError, match="must look like"):
        apply_overrides({}, ["teacher.n_envs"])


def test_fingerprint_tracks_values():
    a, b = Config(), Config()
    assert fingerprint(a) == fingerprint(b)
    b.teacher.n_envs = 3
    assert fingerprint(a) != fingerprint(b)


def test_describe_lists_every_key():
    keys = "\n".join(describe(Config))
    assert "teacher.total_timesteps" in keys and "env.id" in keys
