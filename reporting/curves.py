"""Training curves read back from tensorboard event files and drawn with matplotlib."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from common.io import atomic_write  # noqa: E402


def read_scalars(logdir: Path, tags: list[str]) -> dict[str, list[tuple[int, float]]]:
    """Every (step, value) of the given tags found under ``logdir`` (all event files merged)."""
    found: dict[str, list[tuple[int, float]]] = {}
    for events in sorted(Path(logdir).rglob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        available = set(accumulator.Tags().get("scalars", []))
        for tag in tags:
            if tag in available:
                found.setdefault(tag, []).extend((s.step, s.value) for s in accumulator.Scalars(tag))
    return {tag: sorted(points) for tag, points in found.items()}


def plot_curves(series: dict[str, list[tuple[int, float]]], path: Path, title: str,
                xlabel: str) -> Path | None:
    """One panel per tag; nothing is written when there is nothing to draw."""
    series = {tag: points for tag, points in series.items() if points}
    if not series:
        return None
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.2), squeeze=False)
    for ax, (tag, points) in zip(axes[0], series.items(), strict=True):
        steps, values = zip(*points, strict=True)
        ax.plot(steps, values, marker="." if len(points) < 40 else None)
        ax.set_title(tag, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return path
