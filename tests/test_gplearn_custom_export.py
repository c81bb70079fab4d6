"""Export: program.txt reads as formulas; policy.py acts like the forest in a fresh interpreter."""

import json
import subprocess
import sys

import numpy as np
import pytest

from gplearn_custom.language.export import export_forest, program_text, to_sympy
from gplearn_custom.language.features import FeatureSpec
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import FUNCTIONS, ProgramSettings
from gplearn_custom.language.variation import Variation
from see.synthetic import scripted_pong_dataset

F = FUNCTIONS


@pytest.fixture(scope="module")
def states():
    entries, _ = scripted_pong_dataset(episodes=2, seed=0, max_steps=150)
    return [e["state"] for e in entries]


def random_forest(spec, seed):
    settings = ProgramSettings(list(FUNCTIONS.values()), spec.n_features, init_depth=(1, 4))
    rng = np.random.RandomState(seed)
    programs = [Variation(settings).grow(rng) for _ in range(3)]
    return SymbolicForest(programs, spec.names, ["NOOP", "UP", "DOWN"], sorted(FUNCTIONS), spec, scale=3.0)


def pong_spec(states):
    return FeatureSpec.fit(states, ("agent", "opponent", "ball"), (64, 64), agent_type=0)


def test_program_text_is_simplified_infix_with_feature_names():
    forest = SymbolicForest([[F["add"], 0, F["sub"], 0, 0], [F["gt"], 1, 0.5]], ["ball[0].y", "agent[0].y"],
                            ["UP", "DOWN"], ["add", "sub", "gt"])
    text = program_text(forest)
    assert "UP (5 nodes): ball[0].y" in text
    assert "DOWN (3 nodes): Piecewise((1, agent[0].y > 0.5), (0, True))" in text
    assert str(to_sympy([F["div"], 0, 1], forest.feature_names)) == "ball[0].y/agent[0].y"


def test_policy_py_in_a_fresh_interpreter_acts_like_the_forest(tmp_path, states):
    spec = pong_spec(states)
    X = spec.transform(states)
    forests = [random_forest(spec, seed) for seed in range(6)]
    expected = {}
    for i, forest in enumerate(forests):
        export_forest(forest, tmp_path / f"p{i}")
        expected[i] = {"features": forest.predict(X).tolist(), "objects": forest.act_objects(states).tolist()}
    (tmp_path / "states.json").write_text(json.dumps(states))
    np.save(tmp_path / "X.npy", X)
    driver = tmp_path / "driver.py"
    driver.write_text(
        "import importlib.util, json, sys\n"
        "import numpy as np\n"
        "folder = sys.argv[1]\n"
        "X = np.load(folder + '/X.npy')\n"
        "states = json.load(open(folder + '/states.json'))\n"
        "out = {}\n"
        f"for i in range({len(forests)}):\n"
        "    spec = importlib.util.spec_from_file_location(f'policy{i}', f'{folder}/p{i}/policy.py')\n"
        "    policy = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(policy)\n"
        "    single = [policy.act(x) for x in X[:20]]\n"
        "    assert single == policy.act(X[:20]).tolist()\n"
        "    out[i] = {'features': policy.act(X).tolist(),\n"
        "              'objects': [policy.act_objects(s) for s in states]}\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('see', 'gplearn_custom', 'common'))\n"
        "print(json.dumps({'out': out, 'leaked': leaked}))\n"
    )
    # -I: isolated mode, neither PYTHONPATH nor the current directory are on sys.path
    result = subprocess.run([sys.executable, "-I", str(driver), str(tmp_path)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["leaked"] == []
    assert {int(k): v for k, v in report["out"].items()} == expected


def test_exported_files(tmp_path, states):
    forest = random_forest(pong_spec(states), 1)
    paths = export_forest(forest, tmp_path)
    assert sorted(paths) == ["policy.py", "program.json", "program.txt"]
    data = json.loads((tmp_path / "program.json").read_text())
    assert data["feature_names"] == forest.feature_names and data["feature_spec"]["slots"] == [1, 1, 1]
    assert all(isinstance(t, str) for p in data["programs"] for t in p if not isinstance(t, float))
    assert SymbolicForest.load(tmp_path / "program.json").programs == forest.programs
