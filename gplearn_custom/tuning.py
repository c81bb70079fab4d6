"""Optuna restarts: a study over GP settings and seeds; the best trial's forest is the output.

Every trial runs a whole distillation with settings drawn by the sampler and scores the forest by
its mean return in the selection games where the stage can play them (as the restarts are
chosen, see ``distil_with_restarts``), else by its agreement on the validation states; either
minus ``size_penalty`` per node. The forest is stored in the
trial (``user_attrs["program"]``), so whichever process finishes last can export the study's best
without rerunning it. Several processes pointed at the same storage share one study and stop
together once it holds ``n_trials`` finished or running trials, claimed under a lock so that
exactly ``n_trials`` run: a file lock beside a SQLite database (one machine), or a PostgreSQL
advisory lock held by the server, so that workers on different machines count the same trials.
The study as a whole is not reproducible across processes (they interleave), but each trial is:
its seed is one of its parameters.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
from optuna.trial import TrialState
from sqlalchemy.exc import SQLAlchemyError

from common.errors import UserError
from gplearn_custom.config import DistillConfig
from gplearn_custom.distill import Prepared, Selector, distil, validation_agreement
from gplearn_custom.language.forest import SymbolicForest

COUNTED = (TrialState.COMPLETE, TrialState.RUNNING)
RUNNING_WAIT_SECONDS = 600.0  # longest wait for other workers' last trials before choosing


def default_storage(folder: Path) -> str:
    return f"sqlite:///{(folder / 'optuna.db').resolve()}"


def suggest(trial: optuna.Trial) -> dict:
    """The GP settings a trial varies; everything else comes from the config."""
    return {
        "random_state": trial.suggest_int("seed", 0, 2**31 - 1),
        "tournament_size": trial.suggest_int("tournament_size", 3, 20),
        "parsimony_coefficient": trial.suggest_float("parsimony_coefficient", 1e-4, 1e-2, log=True),
        "p_crossover": trial.suggest_float("p_crossover", 0.3, 0.55),
        "p_constant_mutation": trial.suggest_float("p_constant_mutation", 0.0, 0.2),
        "temperature": trial.suggest_float("temperature", 0.1, 1.0, log=True),
        "strategy": trial.suggest_categorical("strategy", ["joint", "coordinate"]),
    }


TrialLogger = Callable[[int], Callable[[dict], None] | None]


class StudyLock:
    """One worker at a time: two workers creating the storage's tables at once make one fail, and
    two claiming the last trial at once run one trial too many. SQLite: a file lock beside the run
    (workers on one machine); PostgreSQL: the server's advisory lock on the study's name."""

    def __init__(self, storage: str, study_name: str, lock: Path):
        self.study_name, self.lock, self.engine = study_name, lock, None
        if storage.startswith("postgresql"):
            import sqlalchemy

            try:
                self.engine = sqlalchemy.create_engine(storage, poolclass=sqlalchemy.pool.NullPool)
            except ImportError:
                raise UserError("a PostgreSQL storage needs its driver: "
                                "pip install -r requirements-postgres.txt "
                                "(README: many machines)") from None
        elif not storage.startswith("sqlite"):
            raise UserError(f"--storage must be a sqlite:/// or postgresql:// URL, got '{storage}'")

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if self.engine is None:
            with open(self.lock, "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
            return
        import sqlalchemy

        key = {"name": self.study_name}
        with self.engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(hashtext(:name))"), key)
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(hashtext(:name))"), key)


def run_study(prep: Prepared, cfg: DistillConfig, seed: int, study_name: str, n_trials: int, storage: str,
              lock: Path, log: TrialLogger | None = None,
              select: Selector | None = None) -> tuple[SymbolicForest, dict]:
    """Join (or create) the study, run trials until it holds ``n_trials``, return the best forest.
    ``lock`` is the file that serialises study creation and trial claims on a SQLite storage (see
    ``StudyLock``); ``log(trial_number)`` may return a per-generation logger for that trial."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    exclusive = StudyLock(storage, study_name, lock)
    try:
        with exclusive():
            study = optuna.create_study(
                study_name=study_name, storage=storage, load_if_exists=True, direction="maximize",
                sampler=optuna.samplers.TPESampler(seed=(seed * 100_003 + os.getpid()) % 2**32),
            )
    except (ValueError, ImportError, optuna.exceptions.StorageInternalError, SQLAlchemyError) as exc:
        raise UserError(f"cannot open Optuna storage '{storage}': {exc}") from None

    def objective(trial: optuna.Trial) -> float:
        estimator = distil(prep, cfg, seed, log=None if log is None else log(trial.number),
                           **suggest(trial))  # the trial's random_state replaces the seed
        forest = estimator.forest_
        agreement = validation_agreement(forest, prep)
        trial.set_user_attr("program", forest.to_json())
        trial.set_user_attr("val_agreement", agreement)
        trial.set_user_attr("size", forest.size)
        if select is None:
            return agreement - cfg.size_penalty * forest.size
        played = float(select([forest])[0])
        trial.set_user_attr("selection_return", played)
        return played - cfg.size_penalty * forest.size

    while True:
        with exclusive():  # count and claim a trial in one step, so workers never overshoot
            if len(study.get_trials(deepcopy=False, states=COUNTED)) >= n_trials:
                break
            trial = study.ask()
        try:
            value = objective(trial)
        except BaseException:
            study.tell(trial, state=TrialState.FAIL)
            raise
        study.tell(trial, value)
    # trials other workers still run take part in the choice; a worker that died leaves its trial
    # RUNNING for ever, so the wait is bounded
    deadline = time.monotonic() + RUNNING_WAIT_SECONDS
    while study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) and time.monotonic() < deadline:
        time.sleep(0.2)
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        raise UserError(f"study '{study_name}' has no finished trial yet; run with --trials again")
    best = study.best_trial
    summary = {
        "study": study_name, "storage": storage, "finished_trials": len(done), "best_trial": best.number,
        "chosen_by": "agreement" if select is None else "return",
        "best_value": best.value, "best_params": best.params,
        "best_val_agreement": best.user_attrs["val_agreement"],
        "trials": [{"number": t.number, "value": t.value, "val_agreement": t.user_attrs.get("val_agreement"),
                    "selection_return": t.user_attrs.get("selection_return"),
                    "size": t.user_attrs.get("size"), "params": t.params} for t in done],
    }
    return SymbolicForest.from_json(best.user_attrs["program"]), summary

