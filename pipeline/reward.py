"""The reward stage for ``learn_reward.py``: ranked demonstrations, T-REX, evaluation, a readable reward.

Reads ``teacher/checkpoints/`` (the demonstrators), ``dataset.meta.json`` (the perception they are
read through) and ``dataset.json`` (whose training split fits the feature spec, as the distillation's
does). Writes ``reward/``: model.pt and model.json (the ensemble, ``reward.trex.LearnedReward``),
program.json and program.txt (the reward distilled into one program), eval.json (correlations of
predicted and true returns on held-out episodes, the extrapolation episodes of the held-out
checkpoints among them), scatter.png and tensorboard/. The demonstrations are kept in
``cache/demonstrations/`` of the run (``reward.demos.DemonstrationCache``), so learning the reward
again with other training settings (``--force``) replays nothing; deleting that folder is safe.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from common.config import to_dict
from common.errors import UserError
from common.io import write_json, write_text
from common.runs import RunFolder, StageKey, project_version
from envs import action_names
from gplearn_custom.data import load_dataset
from gplearn_custom.distill import feature_spec
from gplearn_custom.regression import SymbolicRewardRegressor
from pipeline.cli import StageArgs
from pipeline.config import Config
from reporting.scatter import plot_scatter
from reward.demos import Demonstration, DemonstrationCache, demonstrations, demonstrators
from reward.trex import ClipBatch, LearnedReward, draw_pairs, reward_network, train_member
from see.perception import Perception
from teacher.agent import CHECKPOINTS, checkpoint_files

STAGE = "reward"
SECTIONS = ("env", "teacher", "detector", "dataset", "distill", "reward")
READS = ("teacher", "dataset", "dataset.json", "dataset.meta.json")
CACHE = Path("cache") / "demonstrations"


def load_perception(run: Path) -> Perception:
    perception = Perception.of_run(run)[1]
    if perception is None:
        raise UserError(f"the reward reads states through the dataset's perception, but {run} has no "
                        "dataset.meta.json that describes one; make the dataset with generate_dataset.py")
    return perception


def check_demonstrators(config: Config, run: Path) -> None:
    """At least two demonstrators must be left to train on once the held-out checkpoints are set aside."""
    cfg = config.reward
    n = len(checkpoint_files(run / "teacher" / CHECKPOINTS)) + int(cfg.include_random)
    if n - cfg.heldout_checkpoints < 2:
        random_player = "a random player and " if cfg.include_random else ""
        raise UserError(f"{n} demonstrators ({random_player}the teacher's checkpoints) leave fewer than "
                        f"two ranks to train on after reward.heldout_checkpoints={cfg.heldout_checkpoints}; "
                        "lower it, set reward.include_random=true or save more checkpoints "
                        "(teacher.checkpoint_freq)")


def ranks(episodes: list[Demonstration], rank_by: str) -> np.ndarray:
    """What the pairs are labelled by: the demonstrator's place in training order, or the score."""
    if rank_by == "return":
        return np.array([e.true_return for e in episodes])
    return np.array([e.source_index for e in episodes], dtype=np.float64)


def split(episodes: list[Demonstration], n_sources: int, cfg, seed: int) -> tuple[list[int], list[int]]:
    """Training and held-out episodes: every episode of the last ``heldout_checkpoints`` demonstrators
    is held out (the extrapolation test), and ``heldout_share`` of each other demonstrator's."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for source in range(n_sources):
        mine = [i for i, e in enumerate(episodes) if e.source_index == source]
        if source >= n_sources - cfg.heldout_checkpoints:
            held += mine
            continue
        n_held = int(round(cfg.heldout_share * len(mine)))
        order = rng.permutation(mine)
        held += sorted(order[:n_held].tolist())
        train += sorted(order[n_held:].tolist())
    return sorted(train), sorted(held)


def correlations(predicted: np.ndarray, true: np.ndarray) -> dict:
    """Spearman and Pearson of predicted and true returns (None where either is constant), and two
    readings that equal scores do not blur: ``pairs_ordered``, the share of pairs of episodes with
    different scores whose predicted returns are in the same order, and ``spearman_ceiling``, the
    Spearman of a reward that orders every such pair right but, as a sum over states does, gives
    equally scored episodes different returns (built-in Pong's games end on few distinct scores)."""
    if len(true) < 3 or np.ptp(true) == 0 or np.ptp(predicted) == 0:
        return {"spearman": None, "pearson": None, "pairs_ordered": None, "spearman_ceiling": None,
                "episodes": len(true)}
    differ = np.sign(true[:, None] - true[None, :])
    ordered = (np.sign(predicted[:, None] - predicted[None, :]) == differ)[differ > 0].mean()
    return {"spearman": float(spearmanr(predicted, true)[0]), "pearson": float(pearsonr(predicted, true)[0]),
            "pairs_ordered": float(ordered),
            "spearman_ceiling": float(spearmanr(np.arange(len(true)), np.sort(true))[0]),
            "episodes": len(true)}


def demonstration_cache(config: Config, run: Path, key: StageKey) -> DemonstrationCache:
    """The run's cache of played episodes, for what they depend on: the game, the perception (the
    dataset and its meta file, whose key covers the detector), the seed and how the checkpoints play."""
    cfg = config.reward
    perception = {name: key.upstream[name] for name in ("dataset", "dataset.meta.json")}
    return DemonstrationCache(run / CACHE, {
        "env": to_dict(config.env), "perception": perception,
        "seed": config.seed, "deterministic": cfg.deterministic, "max_steps": cfg.max_episode_steps,
        "device": config.teacher.device, "version": project_version()})


def learn_reward(config: Config, run: Path, out: Path, cache: DemonstrationCache | None = None) -> dict:
    """Everything the stage does after its inputs were checked; returns eval.json's content."""
    cfg = config.reward
    started = time.perf_counter()
    torch.set_num_threads(cfg.torch_threads)
    perception = load_perception(run)
    spec = feature_spec(load_dataset(run), config.distill, config.seed)
    sources = demonstrators(run / "teacher" / CHECKPOINTS, config.env.frame_stack,
                            len(action_names(config.env)), cfg.include_random, cfg.deterministic,
                            config.teacher.device, config.seed)
    episodes = list(tqdm(demonstrations(config.env, sources, perception, cfg.episodes_per_checkpoint,
                                        cfg.max_episode_steps, config.seed, cache),
                         total=len(sources) * cfg.episodes_per_checkpoint, desc="demonstrations", unit="ep"))
    demo_seconds = time.perf_counter() - started
    features = [spec.transform(e.states) if e.states else np.zeros((0, spec.n_features)) for e in episodes]
    train, held = split(episodes, len(sources), cfg, config.seed)
    train = [i for i in train if len(features[i])]
    label = ranks(episodes, cfg.rank_by)
    if len(np.unique(label[train])) < 2:
        raise UserError("the training episodes all have the same rank (with reward.rank_by=return: the same "
                        "score); use rank_by=checkpoint or more episodes")
    rows = np.concatenate([features[i] for i in train])
    x_mean, x_std = rows.mean(axis=0), np.maximum(rows.std(axis=0), 1e-6)
    model = LearnedReward(spec, [], cfg.hidden, x_mean, x_std, input_clip=cfg.input_clip or None)
    batch = ClipBatch([model.scaled(features[i]) for i in train])
    lengths = np.array([len(features[i]) for i in train])
    members = []
    with SummaryWriter(str(out / "tensorboard")) as writer:
        for m in range(cfg.ensemble):
            rng = np.random.default_rng([config.seed, m])
            torch.manual_seed(config.seed * 1000 + m)
            net = reward_network(spec.n_features, cfg.hidden)
            pairs = draw_pairs(label[train], lengths, cfg.pairs, cfg.clip_length, rng,
                                cfg.whole_episode_share)

            def log(epoch: int, loss: float, accuracy: float, m: int = m) -> None:
                writer.add_scalar(f"reward/loss_member{m}", loss, epoch)
                writer.add_scalar(f"reward/pair_accuracy_member{m}", accuracy, epoch)

            members.append(train_member(net, batch, pairs, cfg.epochs, cfg.batch_size, cfg.learning_rate,
                                        cfg.weight_decay, rng, log))
            model.nets.append(net.eval())
    model.standardise_on(rows)
    model.save(out)
    train_seconds = time.perf_counter() - started - demo_seconds

    predicted = np.array([model.of_features(f).sum() for f in features])
    symbolic = fit_symbolic(model, rows, cfg, config)
    symbolic_predicted = np.array([symbolic.predict(f).sum() if len(f) else 0.0 for f in features])
    true = np.array([e.true_return for e in episodes])
    extrapolation = [i for i in held if episodes[i].source_index >= len(sources) - cfg.heldout_checkpoints]
    report = {
        "heldout": correlations(predicted[held], true[held]),
        "extrapolation": correlations(predicted[extrapolation], true[extrapolation]),
        "train": correlations(predicted[train], true[train]),
        "symbolic_heldout": correlations(symbolic_predicted[held], true[held]),
        "symbolic": {"program": symbolic.text(), "size": symbolic.program_.size, "r2": symbolic.r2_,
                     "states": min(len(rows), cfg.symbolic_states)},
        # a reward learned from equally long clips has no level of its own: where the sum over a whole
        # episode follows its length rather than its score, the reward pays for staying in play
        "heldout_length": correlations(predicted[held], np.array([len(episodes[i].states) for i in held],
                                                                 dtype=np.float64)),
        "sources": [{"name": s.name, "true_mean": float(true[mine].mean()),
                     "predicted_mean": float(predicted[mine].mean())}
                    for k, s in enumerate(sources)
                    for mine in [[i for i, e in enumerate(episodes) if e.source_index == k]]],
        "members": members,
        "best_training_return": float(true[train].max()),
        "demonstrators": [{"name": s.name, "steps": s.steps} for s in sources],
        "episodes": [{**e.summary(), "predicted_return": float(predicted[i]),
                      "symbolic_predicted_return": float(symbolic_predicted[i]),
                      "part": "train" if i in train else "heldout"} for i, e in enumerate(episodes)],
        "object_source": perception.source.__class__.__name__,
        "privileged": config.detector.source == "oracle",
        "demonstration_seconds": demo_seconds,
        "demonstrators_from_cache": 0 if cache is None else cache.hits,
        "train_seconds": train_seconds,
        "seconds": time.perf_counter() - started,
        "seed": config.seed,
    }
    write_symbolic(symbolic, out)
    plot_scatter({"train": (true[train], predicted[train]),
                  "held out": (true[sorted(set(held) - set(extrapolation))],
                               predicted[sorted(set(held) - set(extrapolation))]),
                  "held-out checkpoints": (true[extrapolation], predicted[extrapolation])},
                 out / "scatter.png", f"{config.env.id}: learned reward (T-REX)", "true return",
                 "predicted return")
    write_json(out / "eval.json", report)
    return report


def fit_symbolic(model: LearnedReward, rows: np.ndarray, cfg, config: Config) -> SymbolicRewardRegressor:
    """The ensemble's reward on a random subset of the training states, regressed by one program."""
    rng = np.random.default_rng(config.seed)
    picked = rows if len(rows) <= cfg.symbolic_states else rows[rng.choice(len(rows), cfg.symbolic_states,
                                                                            replace=False)]
    return SymbolicRewardRegressor(
        population_size=cfg.symbolic_population, generations=cfg.symbolic_generations,
        function_set=config.distill.function_set, parsimony_coefficient=cfg.symbolic_parsimony,
        max_program_size=cfg.symbolic_max_size, feature_names=model.spec.names, feature_spec=model.spec,
        random_state=config.seed,
    ).fit(picked, model.of_features(picked))


def write_symbolic(symbolic: SymbolicRewardRegressor, out: Path) -> None:
    write_json(out / "program.json", {**symbolic.program_.to_json(), "slope": symbolic.slope_,
                                      "intercept": symbolic.intercept_, "r2": symbolic.r2_})
    write_text(out / "program.txt",
               "# Learned reward (T-REX) read as one program: reward per state, up to scale and shift.\n"
               f"# R^2 to the ensemble's reward on training states: {symbolic.r2_:.3f}\n"
               f"reward ({symbolic.program_.size} nodes) = {symbolic.text()}\n")


def check_inputs(config: Config, run: RunFolder) -> StageKey:
    """The stage's inputs are there (a finished teacher and dataset, a perception, enough ranks to
    train on); returns the key they give the stage."""
    run.stage("teacher", "train_visual_rl.py").require_complete()
    run.stage("dataset", "generate_dataset.py").require_complete()
    load_perception(run.path)
    check_demonstrators(config, run.path)
    return run.stage(STAGE, "learn_reward.py").key(config, SECTIONS, READS)


def reward_stage(args: StageArgs) -> dict:
    """Learn the reward of ``args.run`` from its teacher's checkpoints."""
    config = args.config
    stage = args.run.stage(STAGE, "learn_reward.py")
    stage.check_writable(args.resume, args.force)
    key = check_inputs(config, args.run)
    out = stage.prepare(config, key, args.resume, args.force)
    report = learn_reward(config, args.run.path, out, demonstration_cache(config, args.run.path, key))
    summary = {k: report[k] for k in ("heldout", "extrapolation", "symbolic_heldout", "seconds")}
    stage.finish(key, summary)
    held, extra = report["heldout"], report["extrapolation"]
    print(f"reward: Spearman {held['spearman']} / Pearson {held['pearson']} on {held['episodes']} held-out "
          f"episodes (held-out checkpoints: Spearman {extra['spearman']}), symbolic "
          f"{report['symbolic']['size']} nodes: {report['symbolic']['program']}, "
          f"{report['seconds']:.0f} s -> {out}")
    return report
