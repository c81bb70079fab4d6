"""distill_teacher.py: artifacts, bad input, resume after an interruption, Optuna with two workers."""

import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml

from common.errors import UserError
from common.runs import RunFolder
from distill_teacher import main
from envs.config import EnvConfig
from envs.evaluation import EvalConfig
from gplearn_custom import genetic
from gplearn_custom.config import DEFAULT_FUNCTION_SET, DistillConfig
from gplearn_custom.data import load_dataset, split
from gplearn_custom.distill import distil_with_restarts, prepare
from gplearn_custom.evaluation import selection_player
from gplearn_custom.language.features import FeatureSpec
from gplearn_custom.language.forest import SymbolicForest
from gplearn_custom.language.program import FUNCTIONS
from see.synthetic import save_dataset, scripted_pong_dataset

TINY = {"population_size": 60, "generations": 3, "restarts": 1, "baseline_population": 40,
        "baseline_generations": 2, "mlp_epochs": 20, "speed_decisions": 50, "select_episodes": 1,
        "select_max_steps": 100}


@pytest.fixture(scope="module")
def dataset():
    return scripted_pong_dataset(episodes=6, seed=0, max_steps=120)


def make_run(folder, dataset, **distill):
    RunFolder(folder).create_marker("BuiltinPong-v0")
    save_dataset(folder, *dataset)
    config = folder.parent / f"{folder.name}.yaml"
    settings = {"seed": 0, "env": {"id": "BuiltinPong-v0"}, "evaluation": {"seeds": [1000], "max_steps": 100},
                "distill": {**TINY, **distill}}
    config.write_text(yaml.safe_dump(settings))
    return ["--config", str(config), "--run", str(folder)]


def test_writes_every_artifact(tmp_path, dataset):
    args = make_run(tmp_path / "pong", dataset)
    report = main(args)
    out = tmp_path / "pong" / "distill"
    for name in ("program.json", "program.txt", "policy.py", "eval.json", "complete.json", "config.yaml",
                 "checkpoint.json"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    saved = json.loads((out / "eval.json").read_text())
    assert saved["symbolic"]["agreement"] == report["symbolic"]["agreement"]
    baselines = saved["baselines"]
    students = ("stock_gplearn", "decision_tree", "mlp_student")
    assert set(baselines) >= {*students, "random_forest", "majority_action"}
    assert baselines["decision_tree"]["size"] <= saved["symbolic"]["size"]  # VIPER's kind, same node budget
    for row in (saved["symbolic"], *(baselines[k] for k in students)):
        assert {"agreement", "decisive_agreement", "critical_agreement"} <= set(row)
    assert saved["symbolic"]["size"] == sum(saved["symbolic"]["size_per_program"].values())
    assert saved["symbolic"]["policy_decisions_per_second"] > 0
    assert len(saved["return_true_objects"]["returns"]) == 1
    assert saved["search"]["chosen_by"] == "return"  # a built-in game: the restarts play it
    assert "selection_return" in saved["search"]["runs"][0]
    forest = SymbolicForest.load(out / "program.json")
    data = load_dataset(tmp_path / "pong")
    assert forest.act_objects(data.states).shape == (len(data),)
    with pytest.raises(UserError, match="--force"):
        main(args)
    main([*args, "--force", "distill.baselines=false"])
    assert "baselines" not in json.loads((out / "eval.json").read_text())


def test_a_budget_per_action_scales_generations_with_the_game(tmp_path, dataset):
    assert DistillConfig(generations=40).for_actions(18).generations == 40  # unset: as configured
    main(make_run(tmp_path / "pong", dataset, strategy="coordinate", coordinate_generations=1,
                  rounds_per_action=2, stopping_agreement=1.01, baselines=False))
    saved = json.loads((tmp_path / "pong" / "distill" / "eval.json").read_text())
    assert saved["config"]["generations"] == 6  # 2 turns x 1 generation x 3 actions
    assert saved["search"]["runs"][0]["generations"] == 6


def test_the_stage_runs_restarts_on_two_cores_and_logs_every_one(tmp_path, dataset):
    runs = {"baselines": False, "restarts": 2, "restart_below": 1.01}
    one = main(make_run(tmp_path / "one", dataset, **runs))
    two = main(make_run(tmp_path / "two", dataset, **runs, n_jobs=2))
    assert two["search"]["workers"] == 2 and one["search"]["workers"] == 1
    program = [(tmp_path / name / "distill" / "program.json").read_text() for name in ("one", "two")]
    assert json.loads(program[0]) == json.loads(program[1])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = (tmp_path / "two" / "distill" / "tensorboard").glob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    assert {"distill/agreement", "restart1/distill/agreement"} <= set(tags)  # a worker's log, replayed
    assert len(accumulator.Scalars("restart1/distill/agreement")) == TINY["generations"]


def test_resume_after_an_interruption_gives_the_uninterrupted_result(tmp_path, dataset, monkeypatch):
    runs = {"baselines": False, "generations": 4, "restarts": 2, "restart_below": 1.01}  # two restarts
    main(make_run(tmp_path / "whole", dataset, **runs))
    args = make_run(tmp_path / "cut", dataset, **runs)
    record = genetic.SymbolicPolicyDistiller._stats

    def interrupt_at_generation_2(self, population, generation, *rest):
        if generation == 2:
            raise KeyboardInterrupt
        return record(self, population, generation, *rest)

    monkeypatch.setattr(genetic.SymbolicPolicyDistiller, "_stats", interrupt_at_generation_2)
    with pytest.raises(KeyboardInterrupt):
        main(args)
    monkeypatch.setattr(genetic.SymbolicPolicyDistiller, "_stats", record)
    with pytest.raises(UserError, match="--resume"):
        main(args)
    main([*args, "--resume"])
    whole = json.loads((tmp_path / "whole" / "distill" / "program.json").read_text())
    assert json.loads((tmp_path / "cut" / "distill" / "program.json").read_text()) == whole
    search = json.loads((tmp_path / "cut" / "distill" / "eval.json").read_text())["search"]
    assert [run["restart"] for run in search["runs"]] == [0, 1]
    assert (tmp_path / "cut" / "distill" / "checkpoint-r1.json").is_file()


@pytest.mark.parametrize("played", [(0.0, 1.0), (1.0, 0.0)])
def test_the_restart_that_plays_best_is_the_output(tmp_path, dataset, played):
    save_dataset(tmp_path, *dataset)
    cfg = DistillConfig(**{**TINY, "restarts": 2, "restart_below": 1.01})
    prep = prepare(load_dataset(tmp_path), cfg, seed=0)
    candidates = []

    def select(forests):
        candidates.extend(forests)
        return np.array(played)

    forest, summary = distil_with_restarts(prep, cfg, 0, tmp_path, select=select)
    assert [run["selection_return"] for run in summary["runs"]] == list(played)
    assert summary["chosen_restart"] == int(np.argmax(played)) and summary["chosen_by"] == "return"
    assert len(candidates) == 2 and forest is candidates[int(np.argmax(played))]
    _, by_agreement = distil_with_restarts(prep, cfg, 0, tmp_path)
    agreements = [run["val_agreement"] for run in by_agreement["runs"]]
    assert by_agreement["chosen_by"] == "agreement"
    assert agreements[by_agreement["chosen_restart"]] == max(agreements)


@pytest.mark.parametrize("restart_below", [1.01, 0.0])
def test_restarts_on_two_processes_give_what_one_after_another_gives(tmp_path, dataset, restart_below):
    save_dataset(tmp_path, *dataset)
    cfg = DistillConfig(**{**TINY, "restarts": 3, "restart_below": restart_below})
    prep = prepare(load_dataset(tmp_path), cfg, seed=0)
    results = {}
    for n_jobs in (1, 2):
        logged: dict[int, list] = {}
        forest, summary = distil_with_restarts(
            prep, replace(cfg, n_jobs=n_jobs), 0, tmp_path / str(n_jobs),
            log=lambda r, logged=logged: logged.setdefault(r, []).append)
        runs = [{k: v for k, v in run.items() if k not in ("history", "evolution_seconds")}
                for run in summary["runs"]]
        gens = {r: [(s["generation"], s["best_fitness"], s["val_agreement"]) for s in log]
                for r, log in logged.items()}
        results[n_jobs] = (forest.to_json(), runs, gens, summary["workers"])
    assert results[1][:3] == results[2][:3]
    assert (results[1][3], results[2][3]) == (1, 2)
    # a run that reaches restart_below ends the restarts, also when later ones ran beside it
    assert len(results[2][1]) == (1 if restart_below == 0.0 else 3)


def test_selection_games_rank_a_player_above_a_still_paddle_on_seeds_apart_from_evaluation():
    spec = FeatureSpec(("agent", "opponent", "ball"), (1, 1, 1), (64, 64), 3.0, agent_type=0)
    dy = spec.names.index("ball[0].dy")
    actions, functions = ["NOOP", "UP", "DOWN"], list(DEFAULT_FUNCTION_SET)
    track = SymbolicForest([[0.02], [FUNCTIONS["neg"], dy], [dy]], spec.names, actions, functions, spec, 20.0)
    still = SymbolicForest([[1.0], [0.0], [0.0]], spec.names, actions, functions, spec, 1.0)
    play = selection_player(EnvConfig(id="BuiltinPong-v0"), EvalConfig(seeds=[1000]), spec, None,
                            episodes=2, max_steps=2000, seed=0)
    still_return, track_return = play([still, track])
    assert track_return == 5.0 and still_return < track_return


def test_bad_input_is_a_user_error(tmp_path, dataset):
    args = make_run(tmp_path / "pong", dataset)
    (tmp_path / "pong" / "dataset.json").unlink()
    with pytest.raises(UserError, match="generate_dataset.py"):
        main(args)
    with pytest.raises(UserError, match="strategy"):
        main([*make_run(tmp_path / "other", dataset), "distill.strategy=greedy"])
    for override, key in (("distill.select_episodes=-1", "select_episodes"),
                          ("distill.min_slot_share=1.5", "min_slot_share"),
                          ("distill.state_weights=sure", "state_weights")):
        with pytest.raises(UserError, match=key):
            main([*make_run(tmp_path / "other", dataset), override])
    entries, meta = dataset
    save_dataset(tmp_path / "pong", [entries[0], {**entries[1], "teacher_action": 7}], meta)
    with pytest.raises(UserError, match="entry 1: 'teacher_action' 7 is out of range"):
        load_dataset(tmp_path / "pong")
    unlabelled = {k: v for k, v in entries[1].items() if k != "teacher_probs"}
    save_dataset(tmp_path / "pong", [entries[0], unlabelled], meta)
    with pytest.raises(UserError, match="only 1 of 2 entries have 'teacher_probs'"):
        load_dataset(tmp_path / "pong")


def test_dataset_arrays_and_missing_image_size(tmp_path, dataset):
    entries, meta = dataset
    save_dataset(tmp_path, entries, {k: v for k, v in meta.items() if k != "image_size"})
    data = load_dataset(tmp_path)
    highest = max(o["y_position"] for e in entries for o in e["state"])
    assert data.image_size[0] == int(highest) + 1 and data.agent_type == 0
    np.testing.assert_array_equal(data.actions, [e["teacher_action"] for e in entries])
    np.testing.assert_allclose(data.probs.sum(axis=1), 1.0)


def test_split_keeps_episodes_whole(tmp_path, dataset):
    save_dataset(tmp_path, *dataset)
    data = load_dataset(tmp_path)
    train, val, test = split(data, 0.2, 0.2, seed=0)
    assert len(train) + len(val) + len(test) == len(data)
    episodes = [set(data.episodes[part]) for part in (train, val, test)]
    assert all(episodes)
    assert not (episodes[0] & episodes[1] or episodes[0] & episodes[2] or episodes[1] & episodes[2])
    np.testing.assert_array_equal(split(data, 0.2, 0.2, seed=0)[2], test)


def worker(argv, errors):
    """One worker process: the stage's main, with user errors reported like the command line."""
    try:
        main(argv)
    except UserError as exc:
        errors.put(str(exc))
        sys.exit(2)


def test_two_optuna_workers_share_one_study(tmp_path, dataset):
    args = make_run(tmp_path / "pong", dataset, baselines=False, generations=2, population_size=30)
    context = multiprocessing.get_context("fork")  # workers start without re-importing everything
    errors = context.Queue()
    workers = [context.Process(target=worker, args=([*args, "--trials", "4"], errors)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    codes = sorted(w.exitcode for w in workers)
    assert codes in ([0, 0], [0, 2])  # 2: the other worker had already finished the stage
    if codes == [0, 2]:
        assert "already complete" in errors.get(timeout=5)
    out = tmp_path / "pong" / "distill"
    storage = f"sqlite:///{out / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(finished) == 4 == len(study.trials)
    assert json.loads((out / "program.json").read_text()) == study.best_trial.user_attrs["program"]
    search = json.loads((out / "eval.json").read_text())["search"]
    assert search["finished_trials"] == 4 and search["best_trial"] == study.best_trial.number
    assert search["chosen_by"] == "return"  # each trial played its forest on the selection seeds
    penalty = DistillConfig().size_penalty  # a trial's value: its selection return minus the size penalty
    assert all(t.value == pytest.approx(t.user_attrs["selection_return"] - penalty * t.user_attrs["size"])
               for t in finished)


def postgres_binaries() -> Path | None:
    """The folder of Debian's PostgreSQL server programs (``.ci/run`` installs them)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    folders = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    return folders[-1] if folders else None


@pytest.fixture
def postgres_url():
    """A real PostgreSQL server on a free local port, for as long as the test runs (as the postgres
    user where the tests run as root, which the server refuses)."""
    binaries = postgres_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server programs (Debian's postgresql package; .ci/run installs it)")
    data = Path(tempfile.mkdtemp(prefix="pgdata-"))  # not under pytest's root-only folder
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
        data.chmod(0o700)
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
                   check=True, capture_output=True)
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
                    str(data / "server.log"), "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def test_two_machines_share_one_study_on_postgresql(tmp_path, dataset, postgres_url):
    """Two workers with their own run folders (no shared file, as on two machines) and one
    PostgreSQL study: exactly the requested trials run, and both export the study's best."""
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    settings = {"baselines": False, "generations": 2, "population_size": 30}
    runs = [make_run(tmp_path / name, dataset, **settings) for name in ("machine_a", "machine_b")]
    argv = ["--trials", "5", "--storage", postgres_url]
    workers = [context.Process(target=worker, args=([*args, *argv], errors)) for args in runs]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=180)
    assert [w.exitcode for w in workers] == [0, 0], [errors.get(timeout=5) for w in workers if w.exitcode]
    (summary,) = optuna.get_all_study_summaries(postgres_url)
    study = optuna.load_study(study_name=summary.study_name, storage=postgres_url)
    assert len(study.trials) == 5
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    for name in ("machine_a", "machine_b"):
        out = tmp_path / name / "distill"
        assert json.loads((out / "program.json").read_text()) == study.best_trial.user_attrs["program"]
        assert json.loads((out / "eval.json").read_text())["search"]["best_trial"] == study.best_trial.number


def test_a_storage_that_is_neither_sqlite_nor_postgresql_is_refused(tmp_path, dataset):
    args = make_run(tmp_path / "pong", dataset, baselines=False)
    with pytest.raises(UserError, match="sqlite:/// or postgresql://"):
        main([*args, "--trials", "1", "--storage", "mysql://nobody@localhost/db"])


def test_dagger_states_join_training_but_never_the_held_out_test(dataset):
    from gplearn_custom.config import DistillConfig
    from gplearn_custom.dagger import grow
    from gplearn_custom.data import distill_data
    from gplearn_custom.distill import prepare

    entries, meta = dataset
    prep = prepare(distill_data(entries, meta), DistillConfig(), seed=0)
    played = {"states": [e["state"] for e in entries[:7]], "teacher_probs": [[0.1, 0.2, 0.7]] * 7,
              "episodes": [0] * 7}
    grown = grow(prep, played)
    assert len(grown.data) == len(prep.data) + 7 and grown.X.shape[0] == prep.X.shape[0] + 7
    assert list(grown.test) == list(prep.test) and list(grown.val) == list(prep.val)
    assert set(grown.train) - set(prep.train) == set(range(len(prep.data), len(prep.data) + 7))
    assert (grown.data.actions[-7:] == 2).all()
    assert grown.data.episodes[-1] > prep.data.episodes.max()  # a new episode, not merged into one
    assert grow(prep, {"states": [], "teacher_probs": [], "episodes": []}) is prep


def test_decisive_and_critical_agreement_count_the_states_where_the_choice_matters():
    from gplearn_custom.evaluation import agreement_measures

    probs = np.array([[0.95, 0.04, 0.01], [0.4, 0.3, 0.3], [0.05, 0.92, 0.03], [0.34, 0.33, 0.33]])
    actions = probs.argmax(1)
    wrong_where_unsure = np.array([0, 2, 1, 1])  # errs on the two states the teacher hardly cares about
    m = agreement_measures(wrong_where_unsure, actions, probs)
    assert m["agreement"] == 0.5 and m["decisive_agreement"] == 1.0 and m["decisive_share"] == 0.5
    assert m["critical_agreement"] > 0.9
    wrong_where_sure = np.array([1, 0, 0, 0])
    assert agreement_measures(wrong_where_sure, actions, probs)["critical_agreement"] < 0.1


def test_critical_and_decisive_state_weights_follow_the_teacher_where_its_choice_matters():
    """Identical features, conflicting labels: 80 % of the states lean weakly to UP, 20 % demand
    NOOP. Uniform weights side with the many; criticality and decisive weights with the states
    that matter."""
    from gplearn_custom.distill import distil
    from gplearn_custom.evaluation import criticality, state_weights

    weak, sharp = [0.25, 0.45, 0.30], [0.98, 0.01, 0.01]
    probs = np.array([weak] * 80 + [sharp] * 20)
    assert state_weights(probs, "uniform") is None
    assert np.allclose(state_weights(probs, "critical"), criticality(probs))
    assert state_weights(probs, "decisive").tolist() == [0.0] * 80 + [1.0] * 20
    assert state_weights(np.array([weak] * 5), "decisive") is None  # no sure state: all alike
    entries, meta = scripted_pong_dataset(episodes=2, seed=0, max_steps=50)
    state = entries[0]["state"]
    states = [state] * len(probs)
    spec = FeatureSpec.fit(states, meta["object_types"], meta["image_size"], agent_type=0)
    X = spec.transform(states)
    data = type("Data", (), {"probs": probs, "action_names": ["NOOP", "UP", "DOWN"],
                             "actions": probs.argmax(1)})()
    prep = type("Prep", (), {"X": X, "fit": np.arange(len(probs)), "spec": spec, "data": data,
                             "val_or_train": lambda self: np.arange(len(probs))})()
    chosen = {}
    for weights in ("uniform", "critical", "decisive"):
        cfg = DistillConfig(**{**TINY, "population_size": 40, "generations": 2, "state_weights": weights})
        chosen[weights] = set(distil(prep, cfg, seed=0).forest_.predict(X).tolist())
    assert chosen == {"uniform": {1}, "critical": {0}, "decisive": {0}}
