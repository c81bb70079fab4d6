"""SPACE on tiny inputs: shapes, finite losses, compositing, learning, checkpoints, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from common.config import from_dict
from envs.builtin import BuiltinPong
from space.config import DetectorConfig
from space.data import to_tensor
from space.detector import SpaceDetector, merge_overlapping
from space.foreground import Priors, warp
from space.model import KL_TERMS, Space
from space.train import WEIGHTS, anneal, build, train_space

PRIORS = Priors(tau=1.0, pres=0.05, scale_mean=-2.0, scale_std=0.3)


def tiny_config(**model) -> DetectorConfig:
    model = {"image_size": 32, "grid": 4, "glimpse_size": 8, "channels": 8, "z_what_dim": 4,
             "z_bg_dim": 4, **model}
    train = {"steps": 4, "batch_size": 4, "log_every": 1, "image_every": 2, "checkpoint_every": 2,
             "fix_alpha_steps": 1, "torch_threads": 1, "eval_frames": 4}
    return from_dict(DetectorConfig, {"model": model, "train": train})


@pytest.fixture(scope="module")
def pong_frames() -> np.ndarray:
    env = BuiltinPong()
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    return np.stack([env.step(int(rng.integers(3)))[0] for _ in range(24)])


@pytest.mark.parametrize("components", [1, 3])
def test_forward_shapes_and_finite_terms(components: int) -> None:
    torch.manual_seed(0)
    cfg = tiny_config(bg_components=components, bg_canvas=components == 1)
    model = Space(cfg.model)
    x = torch.rand(2, 3, 32, 32)
    out = model(x, PRIORS)
    assert out["recon"].shape == out["fg_image"].shape == out["bg_image"].shape == (2, 3, 32, 32)
    assert out["alpha"].shape == (2, 1, 32, 32)
    assert out["z_pres"].shape == (2, 16) and out["centre"].shape == out["scale"].shape == (2, 16, 2)
    assert torch.isfinite(out["loss"])
    for key in ("loglik", *KL_TERMS):
        assert out[key].shape == (2,) and torch.isfinite(out[key]).all(), key
        if key != "loglik":
            assert (out[key] >= -1e-4).all(), key
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_latents_are_deterministic_and_inside_their_cell_range() -> None:
    torch.manual_seed(0)
    model = Space(tiny_config().model)
    x = torch.rand(3, 3, 32, 32)
    a, b = model.latents(x), model.latents(x)
    assert torch.equal(a.pres_prob, b.pres_prob) and torch.equal(a.what, b.what)
    assert a.what.shape == (3, 16, 4)
    offset = (a.centre - model.fg.cell_centres).abs()
    assert (offset <= 2.0 / 4 + 1e-6).all()  # at most one cell (of width 2/G)


def test_latents_of_present_cells_alone_match_the_whole_grid() -> None:
    """The detector encodes only the cells it may read; those cells get exactly the whole grid's
    values (the same glimpse, the same encoder), the rest a zero appearance."""
    torch.manual_seed(0)
    model = Space(tiny_config().model)
    x = torch.rand(3, 3, 32, 32)
    whole, some = model.latents(x), model.latents(x, min_presence=0.5)
    kept = whole.pres_prob > 0.5
    assert 0 < kept.sum() < kept.numel()
    assert torch.equal(some.what[kept], whole.what[kept])
    assert some.what[~kept].abs().max() == 0 and whole.what[~kept].abs().max() > 0
    assert torch.equal(some.centre, whole.centre) and torch.equal(some.pres_prob, whole.pres_prob)


def test_neighbourhood_compositing_matches_whole_image() -> None:
    """Drawing each glimpse only into a window that covers the image equals drawing it everywhere."""
    torch.manual_seed(0)
    whole = Space(tiny_config(neighbourhood=-1).model)
    windowed = Space(tiny_config(neighbourhood=3).model)
    windowed.load_state_dict(whole.state_dict())
    x = torch.rand(2, 3, 32, 32)
    a, b = whole(x, PRIORS, sample=False), windowed(x, PRIORS, sample=False)
    assert torch.allclose(a["alpha"], b["alpha"], atol=1e-5)
    assert torch.allclose(a["fg_image"], b["fg_image"], atol=1e-5)


def test_separable_warp_equals_grid_sample() -> None:
    torch.manual_seed(0)
    images = torch.rand(5, 4, 8, 8)
    a, b = torch.rand(5, 2) * 3 + 0.5, torch.randn(5, 2)
    theta = torch.zeros(5, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, :, 2] = a[:, 0], a[:, 1], b
    grid = F.affine_grid(theta, [5, 4, 24, 20], align_corners=False)
    expected = F.grid_sample(images, grid, align_corners=False)
    assert torch.allclose(warp(images, a, b, 24, 20), expected, atol=1e-5)


def test_glimpse_reads_the_box_it_is_given() -> None:
    model = Space(tiny_config().model)
    x = torch.zeros(1, 3, 32, 32)
    x[0, 0, 8:16, 16:24] = 1.0  # a red square: centre (20, 12) px, 8 px wide
    centre = torch.tensor([[[20 / 16 - 1, 12 / 16 - 1]]])  # pixels -> [-1, 1]
    scale = torch.tensor([[[8 / 32, 8 / 32]]])
    crop = model.fg._glimpses(x, centre, scale)
    assert crop.shape == (1, 3, 8, 8)
    assert torch.allclose(crop[0, 0], torch.ones(8, 8)) and crop[0, 1:].abs().max() == 0


def test_anneal_is_linear_between_its_steps() -> None:
    assert anneal([1.0, 0.0], [10, 20], 0) == 1.0
    assert anneal([1.0, 0.0], [10, 20], 15) == pytest.approx(0.5)
    assert anneal([1.0, 0.0], [10, 20], 99) == 0.0


def test_short_training_lowers_the_loss(pong_frames: np.ndarray) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = tiny_config()
    model, opt_fg, opt_bg = build(cfg)
    x = to_tensor(pong_frames[:8], 32)
    losses = []
    for _ in range(30):
        out = model(x, PRIORS)
        opt_fg.zero_grad()
        opt_bg.zero_grad()
        out["loss"].backward()
        opt_fg.step()
        opt_bg.step()
        losses.append(out["loss"].item())
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5])


def test_checkpoint_resume_and_weights_round_trip(tmp_path, pong_frames: np.ndarray) -> None:
    cfg = tiny_config()
    straight = tmp_path / "straight"
    straight.mkdir()
    train_space(cfg, pong_frames, straight, seed=3, progress=False)

    resumed = tmp_path / "resumed"
    resumed.mkdir()
    half = tiny_config()
    half.train.steps = 2
    train_space(half, pong_frames, resumed, seed=3, progress=False)
    result = train_space(cfg, pong_frames, resumed, seed=3, resume=True, progress=False)
    assert result["steps"] == 4

    a = torch.load(straight / WEIGHTS, weights_only=False)["state_dict"]
    b = torch.load(resumed / WEIGHTS, weights_only=False)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)

    detector = SpaceDetector.load(straight / WEIGHTS, threshold=0.0)
    first, again = detector.detect(pong_frames[:2]), detector.detect(pong_frames[:2])
    assert len(first) == 2 and len(first[0]) > 0
    assert [(d.x, d.y, d.score) for d in first[0]] == [(d.x, d.y, d.score) for d in again[0]]
    assert first[0][0].embedding.shape == (4,)
    assert (tmp_path / "straight" / "tb").is_dir()


class FixedAlpha(torch.nn.Module):
    """A glimpse decoder whose alpha is 1 on rows 2-3 and columns 4-7 of an 8x8 glimpse."""

    def forward(self, what: torch.Tensor) -> torch.Tensor:
        logits = torch.full((len(what), 4, 8, 8), -10.0)
        logits[:, 3, 2:4, 4:8] = 10.0
        return logits


def test_tight_boxes_follow_the_decoded_alpha() -> None:
    model = Space(tiny_config().model)
    model.fg.decoder = FixedAlpha()
    centre, scale = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.5, 0.5]])
    tight_centre, tight_scale = model.fg.tight_boxes(centre, scale, torch.zeros(1, 4))
    # glimpse columns 4-7 are x in [0, 1] of the glimpse, rows 2-3 are y in [-0.5, 0]
    assert torch.allclose(tight_centre, torch.tensor([[0.25, -0.125]]))
    assert torch.allclose(tight_scale, torch.tensor([[0.25, 0.125]]))


def test_overlapping_half_present_cells_merge_into_one_object() -> None:
    boxes = np.array([[10, 10, 3, 3], [10.2, 10, 3, 3], [30, 30, 3, 3]], float)
    merged = merge_overlapping(boxes, np.array([0.3, 0.35, 0.9]), iou=0.3)
    assert [(i, round(p, 2)) for i, p in merged] == [(2, 0.9), (1, 0.65)]


def test_canvas_starts_at_the_median_frame(pong_frames: np.ndarray) -> None:
    model = Space(tiny_config(bg_canvas=True).model)
    data = (to_tensor(pong_frames, 32) * 255).round().to(torch.uint8)
    model.bg.init_canvas(data)
    background = torch.sigmoid(model.bg.canvas)[:, 0, 16]  # a pixel away from every sprite
    assert torch.allclose(background * 255, torch.tensor([20.0, 24.0, 60.0]), atol=1.0)
