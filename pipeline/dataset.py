"""Stage II-B's work: teacher play -> perception -> a streamed dataset, with its meta and statistics.

The object types are fitted first, on the detections of ``dataset.cluster_frames`` frames: the
saved frames (``frames/``) if that stage is finished, else the first steps of this very rollout
(held back, then written like the rest). Then every step's frame goes through the perception and
becomes one entry labelled by the teacher; steps where nothing is detected are counted, not written.
The agent's type is the one whose motion the actions explain (``see.agent_finder``).

Pixels only: nothing written for later stages reads the game's true objects. Where the game
reports them, they fill the meta file's ``diagnostics`` block (type purity, velocity error, whether
the agent was found), which no stage reads.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common.config import to_dict
from common.errors import UserError
from common.io import write_json
from common.shards import load_frames
from envs.info import perceived_frame
from pipeline.cli import StageArgs
from pipeline.config import Config
from see.agent_finder import ActionResponse
from see.dataset import DatasetWriter, meta_path
from see.object_types import TypeConfusion, TypeModel, learn_types, true_agent_type
from see.perception import Perception, hysteresis_of, perception_source
from see.tracking import Tracker
from space.oracle import TrueObjects
from space.sources import Detection, ObjectSource
from teacher.agent import TeacherAgent
from teacher.rollout import Step, rollout

STAGE = "dataset"
SECTIONS = ("env", "teacher", "detector", "dataset")
READS = ("teacher", "space")
DATASET = "dataset.json"




class DatasetStats:
    """Running counts over the written steps; against true objects where the game reports them."""

    def __init__(self, type_names: Sequence[str], truth: TrueObjects, tolerance: float):
        self.type_names = list(type_names)
        self.truth = truth
        true_names = truth.type_names
        self.true_names = list(true_names) if true_names else None
        self.steps = self.entries = self.explored = self.objects = self.truth_steps = 0
        self.episodes: set[int] = set()
        self.per_type = np.zeros(len(type_names), dtype=np.int64)
        self.confusion = TypeConfusion(len(type_names), len(true_names), tolerance) if true_names else None
        n_true = len(true_names) if true_names else 0
        self.velocity_error = np.zeros((n_true, 2))  # summed |estimate - true| per true type
        self.velocity_count = np.zeros(n_true, dtype=np.int64)

    def add(self, step: Step, state: list[dict]) -> None:
        self.steps += 1
        self.episodes.add(step.episode)
        self.explored += step.action != int(np.argmax(step.teacher_probs))
        if state:
            self.entries += 1
            self.objects += len(state)
            np.add.at(self.per_type, [o["type"] for o in state], 1)
        if self.confusion is None:
            return
        truth = self.truth(step.info, (step.frame.shape[1], step.frame.shape[0]))
        if truth is None:
            return
        self.truth_steps += 1
        types = np.array([o["type"] for o in state], dtype=np.int64)
        centres = np.array([[o["x_position"], o["y_position"]] for o in state]).reshape(-1, 2)
        for i, j in self.confusion.add(types, centres, truth):
            kind = int(truth[j]["type"])
            self.velocity_error[kind] += (abs(state[i]["x_velocity"] - truth[j].get("vx", 0.0)),
                                          abs(state[i]["y_velocity"] - truth[j].get("vy", 0.0)))
            self.velocity_count[kind] += 1

    def summary(self) -> dict:
        return {
            "steps": self.steps, "entries": self.entries, "empty_states": self.steps - self.entries,
            "episodes": len(self.episodes), "explored_share": self.explored / max(self.steps, 1),
            "objects_per_state": self.objects / max(self.entries, 1),
            "objects_per_type": dict(zip(self.type_names, self.per_type.tolist(), strict=True)),
        }

    def diagnostics(self, agent: int | None) -> dict | None:
        """Against the game's true objects (privileged: a report, never an input of any stage)."""
        if self.confusion is None or self.truth_steps == 0:
            return None
        result = {"privileged": True, "steps_with_truth": self.truth_steps,
                  "types_vs_truth": self.confusion.summary(self.type_names, self.true_names)}
        wanted = true_agent_type(self.true_names)
        if wanted is not None:
            majority = self.confusion.majority()
            found = None if agent is None else majority[agent]
            result["agent_type_check"] = {
                "true_agent": self.true_names[wanted],
                "found_type": None if agent is None else self.type_names[agent],
                "found_type_is_mostly": None if found is None else self.true_names[found],
                "correct": found == wanted,
            }
        counts = np.maximum(self.velocity_count, 1)[:, None]
        per_type = {name: {"x": float(e[0]), "y": float(e[1]), "objects": int(n)}
                    for name, e, n in zip(self.true_names, self.velocity_error / counts,
                                          self.velocity_count, strict=True) if n}
        overall = self.velocity_error.sum(0) / max(int(self.velocity_count.sum()), 1)
        result["velocity_mae"] = {"x": float(overall[0]), "y": float(overall[1]), "per_true_type": per_type}
        return result


def generate(config: Config, run_dir: Path, source: ObjectSource, out: Path, truth: TrueObjects,
             action_names: Sequence[str], progress: bool = True) -> dict:
    """Write ``out`` (and its meta file) from ``dataset.n_steps`` steps of teacher play; returns the meta."""
    d = config.dataset
    start = time.perf_counter()
    teacher = TeacherAgent.load(run_dir / "teacher", config.env.frame_stack, device=config.teacher.device)
    steps: Iterator[Step] = rollout(config.env, teacher, d.n_steps, d.random_action_prob, config.seed,
                                    deterministic=d.deterministic)
    true_names = truth.type_names
    types, fit_info, held = choose_types(config, run_dir, source, steps, true_names)
    if d.agent_type is not None and not 0 <= d.agent_type < len(types.names):
        raise UserError(f"dataset.agent_type {d.agent_type} is not a type index of {types.names}; "
                        "leave it null to find the agent from the actions")
    perception = Perception(source, types, Tracker(d.gate, d.memory), d.decimals,
                            hysteresis=hysteresis_of(config.detector, d.follow_threshold))
    stats = DatasetStats(types.names, truth, d.match_tolerance)
    response = ActionResponse(len(types.names), len(action_names))
    image_size, last_action, seeds = None, 0, set()
    with DatasetWriter(out) as writer, tqdm(total=d.n_steps, desc="dataset", unit="step",
                                            disable=not progress) as bar:
        for batch in _chunks(itertools.chain(held, steps), d.chunk):
            image_size = list(batch[0].frame.shape[:2])
            detections_of = perception.detect([s.frame for s in batch], [s.info for s in batch])
            for step, detections in zip(batch, detections_of, strict=True):
                if step.step == 0:
                    perception.reset()
                    seeds.add(step.seed)
                state = perception.update(detections)
                stats.add(step, state)
                if step.step > 0:
                    response.add(last_action, state)
                last_action = step.action
                if state:
                    writer.write({"state": state, "teacher_action": int(np.argmax(step.teacher_probs)),
                                  "teacher_probs": [round(float(p), 6) for p in step.teacher_probs],
                                  "episode": step.episode, "step": step.step})
            bar.update(len(batch))
        if writer.count == 0:
            raise UserError("the object source found no object in any frame; check the detector "
                            "(python -m space eval) or detector.source")
        seconds = time.perf_counter() - start
        summary = {**stats.summary(), "seconds": seconds, "steps_per_second": d.n_steps / seconds,
                   "episode_seeds": sorted(seeds)}
        agent, agent_evidence = response.choose(types.names, d.agent_min_share, d.agent_type)
        meta = {
            "format": "diffses-dataset/1", "env_id": config.env.id, "seed": config.seed,
            "object_source": config.detector.source, "detector": to_dict(config.detector),
            **perception.describe(), "object_types": list(types.names),
            "agent_type": agent, "agent_evidence": agent_evidence,
            "image_size": image_size, "action_names": list(action_names), "n_actions": len(action_names),
            "type_fit": fit_info, "stats": summary,
        }
        diagnostics = stats.diagnostics(agent)
        if diagnostics is not None:
            meta["diagnostics"] = {**diagnostics, "true_object_types": list(true_names)}
        write_json(meta_path(out), meta)
    return meta


def choose_types(config: Config, run_dir: Path, source: ObjectSource, steps: Iterator[Step],
                 true_names: Sequence[str] | None) -> tuple[TypeModel, dict, list[Step]]:
    """(types, how they were fitted, steps taken from ``steps`` to fit them).

    The oracle's types are the game's own (a privileged source, named so wherever it is used);
    other sources' types are fitted on ``frames/`` where that stage is finished, else on the
    rollout's first steps, which are returned to be written.
    """
    if config.detector.source == "oracle":
        if not true_names:
            raise UserError(f"the oracle source knows no object types for {config.env.id}; "
                            "use detector.source=space or segment")
        return TypeModel(list(true_names)), {"privileged": True}, []
    frames_dir = run_dir / "frames"
    if (frames_dir / "complete.json").is_file():
        frames = load_frames(frames_dir, config.dataset.cluster_frames).frames
        return (*fit_object_types(source, frames, config, "frames/"), [])
    held = list(itertools.islice(steps, config.dataset.cluster_frames))
    frames = np.stack([perceived_frame(s.frame, s.info) for s in held])
    return (*fit_object_types(source, frames, config, "rollout"), held)


def fit_object_types(source: ObjectSource, frames: np.ndarray, config: Config, origin: str
                     ) -> tuple[TypeModel, dict]:
    """Types learnt on the detections of ``frames`` (``see.object_types.learn_types``)."""
    d = config.dataset
    detections: list[list[Detection]] = []
    for i in range(0, len(frames), d.chunk):
        detections.extend(source.detect(frames[i:i + d.chunk]))
    hysteresis = hysteresis_of(config.detector, d.follow_threshold)
    if hysteresis is not None:  # types from the detections that may start an object
        detections = [[det for det in frame if det.score > hysteresis[1]] for frame in detections]
    if not any(detections):
        raise UserError(f"the object source found no object in {len(frames)} frames; check the detector "
                        "(python -m space eval) or detector.source")
    types, fit_info = learn_types(frames, detections, d, config.seed)
    return types, {"frames_from": origin, **fit_info}


def _chunks(items: Iterable[Step], size: int) -> Iterator[list[Step]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def dataset_stage(args: StageArgs) -> dict:
    """Stage II-B: write ``args.run/dataset.json`` and its meta."""
    config = args.config
    args.run.stage("teacher", "train_visual_rl.py").require_complete()
    if config.detector.source == "space":
        args.run.stage("space", "python -m space train").require_complete()
    stage = args.run.stage(STAGE, "generate_dataset.py")
    out = args.run.path / DATASET
    stage.check_writable(args.resume, args.force)
    if out.exists() and not stage.started and not args.force:
        raise UserError(f"{out} exists but was not made by generate_dataset.py; pass --force to replace it")

    import torch

    from envs import action_names
    from see.dataset import remove_partial
    from space.oracle import TrueObjects

    torch.set_num_threads(config.dataset.torch_threads)
    source = perception_source(config.detector, args.run.path, config.env.id,
                               hysteresis_of(config.detector, config.dataset.follow_threshold))
    truth = TrueObjects(config.env.id)  # privileged: the oracle's types and the diagnostics only
    key = stage.key(config, SECTIONS, READS)
    stage.prepare(config, key, args.resume, args.force)
    remove_partial(out)
    meta = generate(config, args.run.path, source, out, truth, action_names(config.env))
    stats = meta["stats"]
    stage.finish(key, stats)
    agent = meta["agent_type"]
    purity = meta.get("diagnostics", {}).get("types_vs_truth", {}).get("purity")
    print(f"dataset: {stats['entries']} states from {stats['steps']} steps in {stats['seconds']:.0f} s "
          f"({stats['steps_per_second']:.0f} steps/s), {len(meta['object_types'])} object types, agent "
          + (meta["object_types"][agent] if agent is not None else "not found")
          + (f" (privileged check against true objects: purity {purity:.3f})" if purity is not None else "")
          + f" -> {out}")
    return meta
