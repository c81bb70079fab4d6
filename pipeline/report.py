"""The report of a run (the function that ``report.py`` calls): results, programs, curves, GIF."""

from __future__ import annotations

from pathlib import Path

from common.io import read_json, write_json
from pipeline.cli import StageArgs

STAGE = "report"
SECTIONS = ("env", "teacher", "frames", "detector", "dataset", "distill", "reward", "finetune",
            "evaluation", "transfer")
READS = ("teacher", "dataset", "distill", "reward", "finetune")
GIF_STEPS = 240


def symbolic_policy(run: Path):
    """(stage, forest, perception) from the run's artifacts; players take their own tracker of the
    perception, so one serves every evaluation."""
    from gplearn_custom.language.forest import SymbolicForest
    from see.perception import Perception

    stage = "finetune" if (run / "finetune" / "complete.json").is_file() else "distill"
    forest = SymbolicForest.load(run / stage / "program.json")
    meta = read_json(run / "dataset.meta.json")
    return stage, forest, Perception.from_meta(meta, run)


class Recording:
    """Wraps a perception so the objects the agent acted on can be drawn on its frames."""

    def __init__(self, perceive):
        self.perceive = perceive
        self.last: list[dict] = []

    def reset(self) -> None:
        self.perceive.reset()

    def __call__(self, frame, info):
        self.last = self.perceive(frame, info)
        return self.last


def record_gif(agent, config, out: Path) -> Path:
    from envs import action_names, make_env
    from reporting.gif import Annotated, write_gif

    names = action_names(config.env)
    agent.perceive = recording = Recording(agent.perceive)
    env = make_env(config.env)
    frame, info = env.reset(seed=config.evaluation.seeds[0])
    agent.reset()
    items = []
    for _ in range(GIF_STEPS):
        action = agent.act(frame, info)
        items.append(Annotated(frame, recording.last, names[action]))
        frame, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    env.close()
    return write_gif(items, out / "agent.gif")


def report_stage(args: StageArgs) -> Path:
    """Write ``args.run/report/`` from every finished stage."""
    config = args.config
    teacher_dir = args.run.stage("teacher", "train_visual_rl.py").require_complete().path
    args.run.stage("distill", "distill_teacher.py").require_complete()
    stage = args.run.stage(STAGE, "report.py")
    key = stage.key(config, SECTIONS, READS)
    out = stage.prepare(config, key, args.resume, args.force)

    import torch

    from gplearn_custom.evaluation import SymbolicAgent, evaluate_symbolic
    from reporting.build import build_report
    from reporting.transfer import transfer_table
    from see.reader import agent_perceive
    from teacher.agent import TeacherAgent, evaluate_teacher

    torch.set_num_threads(1)  # batch-1 play: more threads only add contention

    run = args.run.path
    policy_stage, forest, perception = symbolic_policy(run)
    stack, device = config.env.frame_stack, config.teacher.device
    teacher = TeacherAgent.load(teacher_dir, stack, device=device)
    agents = {"teacher": lambda env_cfg, eval_cfg: evaluate_teacher(teacher, env_cfg, eval_cfg),
              "symbolic": lambda env_cfg, eval_cfg: evaluate_symbolic(forest, env_cfg, eval_cfg, perception)}
    rows = transfer_table(agents, config.env, config.evaluation, config.transfer.variants)
    write_json(out / "transfer.json", {"policy": policy_stage, "rows": rows})
    gif = record_gif(SymbolicAgent(forest, agent_perceive(perception)), config, out)
    path = build_report(run, out, rows, gif)
    stage.finish(key, {"report": str(path), "transfer": rows})
    print(f"report -> {path}")
    return path
