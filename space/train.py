"""Training SPACE: annealed priors, a fixed-alpha warm-up and one optimiser per half of the model.

The foreground has its own optimiser (RMSprop in the paper) and the background Adam, as in the
paper; gradients of both are clipped together. Every ``checkpoint_every`` steps the whole state
(weights, optimisers, random generators, step) is saved, so ``--resume`` continues exactly where
an interrupted run stopped; ``model.pt`` is written at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from common.config import to_dict
from common.devices import torch_device
from common.io import atomic_write
from space.config import DetectorConfig, SpaceTrainConfig
from space.data import to_uint8
from space.foreground import Priors
from space.model import KL_TERMS, Space
from space.plots import draw_boxes

CHECKPOINT = "checkpoint.pt"
WEIGHTS = "model.pt"


def anneal(values: list[float], steps: list[int], step: int) -> float:
    """Linear from ``values[0]`` at ``steps[0]`` to ``values[1]`` at ``steps[1]``, flat outside."""
    start, end = values
    first, last = steps
    if step <= first or last <= first:
        return float(start if step <= first else end)
    share = min((step - first) / (last - first), 1.0)
    return float(start + share * (end - start))


def priors_at(t: SpaceTrainConfig, step: int) -> Priors:
    return Priors(
        tau=anneal(t.tau, t.tau_steps, step),
        pres=anneal(t.pres_prior, t.pres_prior_steps, step),
        scale_mean=anneal(t.scale_prior_mean, t.scale_prior_steps, step),
        scale_std=t.scale_prior_std,
    )


def build(cfg: DetectorConfig) -> tuple[Space, torch.optim.Optimizer, torch.optim.Optimizer]:
    t = cfg.train
    model = Space(cfg.model)
    model.fg.init_scale(t.scale_prior_mean[0])
    fg_class = torch.optim.RMSprop if t.fg_optimizer == "rmsprop" else torch.optim.Adam
    return (model, fg_class(model.fg.parameters(), lr=t.fg_lr),
            torch.optim.Adam(model.bg.parameters(), lr=t.bg_lr))


def save_weights(model: Space, path: Path) -> None:
    """The trained model with its architecture, enough to rebuild it without the config file."""
    payload = {"model_config": to_dict(model.cfg), "state_dict": model.state_dict()}
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def train_space(
    cfg: DetectorConfig,
    frames: np.ndarray,
    out_dir: Path,
    seed: int,
    resume: bool = False,
    evaluate: Callable[[Space], dict[str, float]] | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Train on ``frames`` (N, H, W, 3) uint8; returns the last logged losses and timing."""
    t = cfg.train
    torch.set_num_threads(t.torch_threads)
    torch.manual_seed(seed)
    device = torch.device(torch_device(t.device))
    model, opt_fg, opt_bg = build(cfg)
    model.to(device)
    generator = torch.Generator().manual_seed(seed)
    step, elapsed = 0, 0.0
    checkpoint = out_dir / CHECKPOINT
    if resume and checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt_fg.load_state_dict(state["opt_fg"])
        opt_bg.load_state_dict(state["opt_bg"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        step, elapsed = state["step"], state["elapsed"]
    data = to_uint8(frames, cfg.model.image_size)
    if step == 0:
        model.bg.init_canvas(data[:: max(1, len(data) // 512)].to(device))
    writer = SummaryWriter(str(out_dir / "tb"), purge_step=step)
    last: dict[str, float] = {}
    started = time.perf_counter() - elapsed
    bar = tqdm(total=t.steps, initial=step, desc="space", unit="step", disable=not progress)
    model.train()
    while step < t.steps:
        index = torch.randint(len(data), (t.batch_size,), generator=generator)
        x = data[index].to(device).float().div_(255.0)
        priors = priors_at(t, step)
        fix = t.fix_alpha_value if step < t.fix_alpha_steps else None
        out = model(x, priors, fix)
        opt_fg.zero_grad(set_to_none=True)
        opt_bg.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t.clip_norm)
        opt_fg.step()
        opt_bg.step()
        step += 1
        bar.update(1)
        if step % t.log_every == 0 or step == t.steps:
            last = _scalars(out, priors)
            for key, value in last.items():
                writer.add_scalar(f"space/{key}", value, step)
            bar.set_postfix(loss=f"{last['loss']:.0f}", objects=f"{last['objects']:.1f}")
        if step % t.image_every == 0 or step == t.steps:
            _images(writer, x, out, step)
        if step % t.checkpoint_every == 0 or step == t.steps:
            elapsed = time.perf_counter() - started
            _save_checkpoint(checkpoint, model, opt_fg, opt_bg, generator, step, elapsed)
            if evaluate is not None:
                model.eval()
                for key, value in evaluate(model).items():
                    writer.add_scalar(f"space/eval_{key}", value, step)
                model.train()
    bar.close()
    writer.close()
    save_weights(model, out_dir / WEIGHTS)
    last["seconds"] = time.perf_counter() - started
    last["steps"] = step
    return last


def _scalars(out: dict[str, torch.Tensor], priors: Priors) -> dict[str, float]:
    scalars = {key: float(out[key].detach().mean()) for key in ("loss", "elbo", "loglik", "mse", *KL_TERMS)}
    scalars["objects"] = float((out["z_pres"] > 0.5).float().sum(1).mean())
    scalars.update(tau=priors.tau, pres_prior=priors.pres, scale_prior_mean=priors.scale_mean)
    return scalars


def _images(writer: SummaryWriter, x: torch.Tensor, out: dict[str, torch.Tensor], step: int) -> None:
    n = min(8, len(x))
    boxes = draw_boxes(x[:n], out["centre"][:n].detach(), out["scale"][:n].detach(),
                       out["z_pres"][:n].detach())
    for key, images in (("input", x[:n]), ("reconstruction", out["recon"][:n]),
                        ("foreground", out["fg_image"][:n]), ("background", out["bg_image"][:n]),
                        ("boxes", boxes)):
        writer.add_images(f"space/{key}", images.detach().clamp(0, 1).cpu(), step)


def _save_checkpoint(path: Path, model: Space, opt_fg: torch.optim.Optimizer,
                     opt_bg: torch.optim.Optimizer, generator: torch.Generator, step: int,
                     elapsed: float) -> None:
    state = {
        "model": model.state_dict(), "opt_fg": opt_fg.state_dict(), "opt_bg": opt_bg.state_dict(),
        "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "step": step, "elapsed": elapsed,
    }
    atomic_write(path, lambda tmp: torch.save(state, tmp))
