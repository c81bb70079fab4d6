"""Assemble ``runs/NAME/report/report.md`` from the artifacts every stage left in the run folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from common.io import read_json, write_text
from reporting.anchors import anchors_for
from reporting.curves import plot_curves, read_scalars

CURVES = {
    "teacher": ["rollout/ep_rew_mean", "eval/mean_reward"],
    "space": ["space/loss", "space/elbo", "space/kl_pres"],
    "distill": ["distill/agreement", "distill/best_fitness", "distill/size"],
    "finetune": ["finetune/best_return", "finetune/mean_return", "finetune/size"],
}


def pick(data: Any, *paths: str, default: Any = None) -> Any:
    """The first dotted path that exists in nested dicts (artifacts of different stages differ)."""
    for path in paths:
        node = data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            return node
    return default


def load(path: Path) -> dict:
    return read_json(path) if path.is_file() else {}


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def results_rows(run: Path) -> list[dict]:
    teacher = load(run / "teacher" / "complete.json").get("summary", {})
    rows = [{
        "agent": "teacher (CNN)", "return": pick(teacher, "return_mean"), "std": pick(teacher, "return_std"),
        "agreement": 1.0, "size": pick(teacher, "parameters"),
        "policy_dps": pick(teacher, "policy_decisions_per_second"),
        "agent_dps": pick(teacher, "agent_steps_per_second"),
    }]
    for stage, label in (("distill", "distilled"), ("finetune", "fine-tuned")):
        ev = load(run / stage / "eval.json")
        if not ev:
            continue
        privileged = ", privileged: searched on true objects" if ev.get("privileged") else ""
        rows.append({
            "agent": f"{label} (symbolic{privileged})",
            "return": pick(ev, "return.return_mean", "finetuned.return_mean"),
            "std": pick(ev, "return.return_std", "finetuned.return_std"),
            "agreement": pick(ev, "symbolic.agreement", "finetuned.agreement"),
            "size": pick(ev, "symbolic.size", "finetuned.size"),
            "policy_dps": pick(ev, "symbolic.policy_decisions_per_second",
                               "finetuned.policy_decisions_per_second"),
            "agent_dps": pick(ev, "return.agent_steps_per_second", "finetuned.agent_steps_per_second"),
        })
    finetune = load(run / "finetune" / "eval.json")
    floor, ceiling = finetune.get("random"), finetune.get("scripted")
    if floor:  # the floor every return is read against
        rows.append({"agent": "random actions", "return": floor["return_mean"], "std": floor["return_std"]})
    if ceiling:  # reads the game's true objects: a ceiling, named as privileged
        rows.append({"agent": "scripted player (privileged: true objects)", "return": ceiling["return_mean"],
                     "std": ceiling["return_std"]})
    return rows


def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(row.get(key)) for key, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def build_report(run: Path, out: Path, transfer_rows: list[dict], gif: Path | None,
                 extra_sections: list[Callable[[], str]] = ()) -> Path:
    """Write report.md (and its PNGs) into ``out``; returns the markdown path."""
    parts = [f"# Report: {run.name}", ""]
    parts += ["## Results", "", markdown_table(results_rows(run), [
        ("agent", "agent"), ("return", "return"), ("std", "± std"), ("agreement", "agreement"),
        ("size", "size (nodes / params)"), ("policy_dps", "policy decisions/s"),
        ("agent_dps", "whole agent steps/s"),
    ]), "", "Return: mean over the config's evaluation seeds, greedy actions. Agreement: held-out "
        "states where the student's action is the teacher's argmax.", ""]
    anchors = anchors_for(load(run / "run.json").get("env_id", ""))
    if anchors:
        parts += ["## Published anchors (not like for like)", "", markdown_table(anchors, [
            ("anchor", "agent"), ("return", "return"), ("source", "source")]), "",
            "Each reads the game differently (the RAM's true objects, hand-coded features, a CNN); "
            "ours plays from pixels. See reporting/anchors.py.", ""]
    meta = load(run / "dataset.meta.json")
    if meta:
        parts += ["## Perception", "", _perception_lines(meta), ""]
    for stage, label in (("distill", "Distilled program"), ("finetune", "Fine-tuned program")):
        text = run / stage / "program.txt"
        if text.is_file():
            parts += [f"## {label}", "", "```", text.read_text().strip(), "```", ""]
    parts += ["## Training curves", ""]
    for stage, tags in CURVES.items():
        png = plot_curves(read_scalars(run / stage, tags), out / f"curves_{stage}.png", stage, "step")
        if png:
            parts += [f"![{stage} curves]({png.name})", ""]
    space_eval = load(run / "space" / "eval.json")
    if space_eval:
        parts += ["## Detector", "", "```", _detector_lines(space_eval), "```", ""]
        for png in sorted((run / "space").glob("*.png")):
            target = out / f"detector_{png.name}"
            target.write_bytes(png.read_bytes())
            parts += [f"![detector frames]({target.name})", ""]
    reward = load(run / "reward" / "eval.json")
    if reward:
        parts += ["## Learned reward (T-REX)", "", _reward_lines(reward), ""]
        scatter = run / "reward" / "scatter.png"
        if scatter.is_file():
            (out / "reward_scatter.png").write_bytes(scatter.read_bytes())
            parts += ["![predicted against true return](reward_scatter.png)", ""]
    if transfer_rows:
        agents = sorted({k[: -len("_return")] for row in transfer_rows for k in row if k.endswith("_return")})
        columns = [("variant", "variant")]
        for agent in agents:
            columns += [(f"{agent}_return", f"{agent} return"), (f"{agent}_drop", f"{agent} drop")]
        variants = "; ".join(f"{r['variant']}: {r['overrides']}" for r in transfer_rows[1:])
        parts += ["## Transfer (no retraining)", "", markdown_table(transfer_rows, columns), "",
                  f"Variants: {variants}", ""]
    if gif is not None:
        parts += ["## The symbolic agent playing", "", f"![symbolic agent]({gif.name})", ""]
    for section in extra_sections:
        parts += [section(), ""]
    return write_text(out / "report.md", "\n".join(parts))


def _perception_lines(meta: dict) -> str:
    """Types and the agent as the pixels gave them, then the privileged check against true objects."""
    names, agent = meta.get("object_types", []), meta.get("agent_type")
    share = pick(meta, "agent_evidence.explained_share", default={})
    lines = [f"Object source: {meta.get('object_source')}; types (named by colour and size): "
             f"{', '.join(names)}.",
             f"Agent: {names[agent] if agent is not None else 'none found'}, the type whose motion the "
             "actions explain best (share of motion explained: "
             + ", ".join(f"{k} {v:.3f}" for k, v in share.items()) + ")."]
    diagnostics = meta.get("diagnostics")
    if diagnostics:
        check = diagnostics.get("agent_type_check", {})
        lines.append(f"Privileged diagnostics (the game's true objects; no stage reads them): type purity "
                     f"{fmt(pick(diagnostics, 'types_vs_truth.purity'))}, agent found correctly: "
                     f"{check.get('correct', '–')} (true agent: {check.get('true_agent', '–')}).")
    return "\n".join(lines)


def _reward_lines(reward: dict) -> str:
    """How well the learned reward ranks episodes it did not train on, and the program that reads it."""
    def corr(part: dict) -> str:
        ceiling = part.get("spearman_ceiling")  # absent from rewards learned before it was measured
        ties = "" if ceiling is None else f" (at most {fmt(ceiling)} where equal scores get unequal sums)"
        ordered = "" if part.get("pairs_ordered") is None else \
            f", {fmt(part['pairs_ordered'])} of differently scored pairs in order"
        return (f"Spearman {fmt(part.get('spearman'))}{ties}, Pearson {fmt(part.get('pearson'))}{ordered} "
                f"over {part.get('episodes')} episodes")

    sources = ", ".join(d["name"] for d in reward.get("demonstrators", []))
    return "\n".join([
        f"Demonstrators, least trained first: {sources}. Predicted return (the sum of the learned reward "
        "over an episode) against the game's score:",
        f"- held-out episodes: {corr(reward['heldout'])};",
        f"- of them, the held-out best checkpoints (extrapolation): {corr(reward['extrapolation'])};",
        f"- the program below, on the held-out episodes: {corr(reward['symbolic_heldout'])}.",
        "", "```", f"reward ({reward['symbolic']['size']} nodes) = {reward['symbolic']['program']}", "```"])


def _detector_lines(space_eval: dict) -> str:
    keys = ("precision", "recall", "f1", "count_accuracy", "ap50", "tolerance")
    lines = []
    for key in keys:
        value = pick(space_eval, key, f"overall.{key}", f"metrics.{key}")
        if value is not None:
            lines.append(f"{key}: {fmt(value)}")
    return "\n".join(lines) or "see space/eval.json"
