"""SPACE's foreground: one candidate object per grid cell, drawn by a spatial transformer.

Each of the G x G cells infers a presence ``z_pres`` (relaxed Bernoulli), a box ``z_where``
(scale relative to the image, centre within one cell of the cell's own centre), a depth
``z_depth`` and an appearance ``z_what`` encoded from the glimpse under its box. Decoded glimpses
(colour and alpha) are put back with the inverse transform and composited, nearer objects
(smaller depth) in front. With ``neighbourhood`` r >= 0 a glimpse is drawn only into the
(2r+1) x (2r+1) cells around its own, which makes compositing cheap on a CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal, kl_divergence

from space.config import SpaceModelConfig
from space.nets import DownEncoder, UpDecoder, conv_block, gaussian

EPS = 1e-6


@dataclass
class Priors:
    """The annealed quantities of one training step."""

    tau: float  # relaxed-Bernoulli temperature
    pres: float  # prior presence probability
    scale_mean: float
    scale_std: float


@dataclass
class Latents:
    """Per-cell posterior summaries, (B, G*G, ...) each; what detection reads."""

    pres_prob: torch.Tensor  # (B, N)
    centre: torch.Tensor  # (B, N, 2) x, y in [-1, 1]
    scale: torch.Tensor  # (B, N, 2) width, height as shares of the image
    what: torch.Tensor  # (B, N, z_what_dim) posterior mean
    depth: torch.Tensor  # (B, N)


class Foreground(nn.Module):
    def __init__(self, cfg: SpaceModelConfig):
        super().__init__()
        self.grid = cfg.grid
        self.glimpse = cfg.glimpse_size
        self.z_what_dim = cfg.z_what_dim
        self.cell = cfg.image_size // cfg.grid
        self.max_shift = cfg.max_shift * 2.0 / cfg.grid  # in image coordinates [-1, 1]
        self.radius = cfg.neighbourhood
        c = cfg.channels
        layers, width = [], 3
        for i in range(self.cell.bit_length() - 1):  # stride-2 stages down to one pixel per cell
            out = min(c // 2 * 2**i, c * 2)
            layers.append(conv_block(width, out, 4, 2))
            width = out
        layers += [conv_block(width, c * 2), conv_block(c * 2, c * 2)]  # context from neighbours
        self.encoder = nn.Sequential(*layers)
        # per cell: presence logit, where (4 means, 4 stds), depth (mean, std)
        self.heads = nn.Conv2d(c * 2, 1 + 8 + 2, 1)
        self.what_encoder = DownEncoder(3, cfg.glimpse_size, cfg.glimpse_channels, 2 * cfg.z_what_dim)
        self.decoder = UpDecoder(cfg.z_what_dim, 4, cfg.glimpse_size, cfg.glimpse_channels)
        centres = (torch.arange(cfg.grid, dtype=torch.float32) * 2 + 1) / cfg.grid - 1
        cy, cx = torch.meshgrid(centres, centres, indexing="ij")
        self.register_buffer("cell_centres", torch.stack([cx, cy], -1).view(-1, 2), persistent=False)

    def init_scale(self, scale_mean: float) -> None:
        """Start the boxes at the prior size instead of half the image."""
        with torch.no_grad():
            self.heads.bias[1:3].fill_(scale_mean)

    # -- inference -------------------------------------------------------------------------------

    def _cells(self, x: torch.Tensor) -> tuple[torch.Tensor, Normal, Normal]:
        """Presence logits (B, N), where posterior (B, N, 4), depth posterior (B, N, 1)."""
        h = self.heads(self.encoder(x)).flatten(2).transpose(1, 2)  # (B, N, 11)
        pres_logit = h[..., 0]
        where = gaussian(torch.cat([h[..., 1:5], h[..., 5:9]], -1))
        depth = gaussian(h[..., 9:11])
        return pres_logit, where, depth

    def _box(self, z_where: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale in (0, 1) of the image; the centre moves at most ``max_shift`` cells."""
        scale = torch.sigmoid(z_where[..., :2])
        centre = self.cell_centres + torch.tanh(z_where[..., 2:]) * self.max_shift
        return centre, scale

    def _glimpses(self, x: torch.Tensor, centre: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """(B*N, 3, g, g) crops under the boxes, all of an image sampled in one grid_sample call."""
        b, n = centre.shape[:2]
        g = self.glimpse
        grid = F.affine_grid(_theta(centre.reshape(-1, 2), scale.reshape(-1, 2)), [b * n, 3, g, g],
                             align_corners=False)
        crops = F.grid_sample(x, grid.view(b, n * g, g, 2), align_corners=False)
        return crops.view(b, 3, n, g, g).transpose(1, 2).reshape(b * n, 3, g, g)

    def _cell_glimpses(self, x: torch.Tensor, centre: torch.Tensor, scale: torch.Tensor,
                       cells: torch.Tensor) -> torch.Tensor:
        """(M, 3, g, g) crops under the boxes of the M cells where ``cells`` (B, N) is true, each
        sampled from its own image: the same values as ``_glimpses`` gives those cells."""
        image, cell = cells.nonzero(as_tuple=True)
        g = self.glimpse
        grid = F.affine_grid(_theta(centre[image, cell], scale[image, cell]), [len(image), 3, g, g],
                             align_corners=False)
        return F.grid_sample(x[image], grid, align_corners=False)

    def latents(self, x: torch.Tensor, min_presence: float = 0.0) -> Latents:
        """Posterior means, no sampling: the deterministic detections.

        Only cells more present than ``min_presence`` are glimpsed and encoded; the others' ``what``
        is zero. A detector that never reads those cells skips most of the glimpse encoder (a fifth of
        its time on the demo's frames) and gets the same values for the cells it reads (tested).
        """
        pres_logit, where, depth = self._cells(x)
        centre, scale = self._box(where.mean)
        pres_prob = torch.sigmoid(pres_logit)
        b, n = pres_logit.shape
        what = x.new_zeros(b, n, self.z_what_dim)
        cells = pres_prob > min_presence
        if cells.any():
            what[cells] = gaussian(self.what_encoder(self._cell_glimpses(x, centre, scale, cells))).mean
        return Latents(pres_prob, centre, scale, what, depth.mean[..., 0])

    def tight_boxes(self, centre: torch.Tensor, scale: torch.Tensor, what: torch.Tensor,
                    level: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
        """Boxes shrunk to where the decoded alpha reaches ``level`` of its peak ((M, 2) each).

        z_where only has to cover its object; the glimpse's alpha mask outlines it, so its extent
        gives a tighter box and a better centre. Glimpses with an empty alpha keep z_where.
        """
        if len(what) == 0:
            return centre, scale
        g = self.glimpse
        alpha = torch.sigmoid(self.decoder(what)[:, 3])  # (M, g, g)
        peak = alpha.flatten(1).max(1).values
        alpha = (alpha >= level * peak[:, None, None]) & (peak[:, None, None] > 0.05)
        edges = torch.arange(g + 1, device=what.device, dtype=what.dtype) * (2.0 / g) - 1
        lo, hi = [], []
        for mask in (alpha.any(1), alpha.any(2)):  # columns (x), rows (y)
            index = torch.arange(g, device=what.device).expand_as(mask)
            first = torch.where(mask, index, g).min(1).values.clamp(max=g - 1)
            last = torch.where(mask, index, -1).max(1).values.clamp(min=0)
            lo.append(edges[first])
            hi.append(edges[last + 1])
        lo_t, hi_t = torch.stack(lo, 1), torch.stack(hi, 1)  # glimpse coordinates in [-1, 1]
        found = alpha.flatten(1).any(1, keepdim=True)
        new_centre = centre + scale * (lo_t + hi_t) / 2
        new_scale = scale * (hi_t - lo_t) / 2
        return torch.where(found, new_centre, centre), torch.where(found, new_scale, scale)

    # -- training ----------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, priors: Priors, sample: bool = True) -> dict[str, torch.Tensor]:
        """Render the foreground and its alpha, with the KL terms (B,); ``sample=False``: means."""
        b = x.shape[0]
        pres_logit, where, depth = self._cells(x)
        n = pres_logit.shape[1]
        if sample:
            u = torch.rand_like(pres_logit).clamp(EPS, 1 - EPS)
            z_pres = torch.sigmoid((pres_logit + u.log() - (-u).log1p()) / priors.tau)
        else:
            z_pres = torch.sigmoid(pres_logit)
        z_where = where.rsample() if sample else where.mean
        z_depth = (depth.rsample() if sample else depth.mean)[..., 0]
        centre, scale = self._box(z_where)
        what = gaussian(self.what_encoder(self._glimpses(x, centre, scale)))
        z_what = what.rsample() if sample else what.mean
        decoded = torch.sigmoid(self.decoder(z_what))  # (B*N, 4, g, g): colour and alpha
        fg, alpha = self._render(decoded, centre, scale, z_pres, z_depth, x.shape[-2:])

        q = torch.sigmoid(pres_logit)
        p = priors.pres
        kl_pres = q * (F.logsigmoid(pres_logit) - math.log(p)) + (1 - q) * (
            F.logsigmoid(-pres_logit) - math.log(1 - p)
        )
        where_prior = Normal(
            torch.tensor([priors.scale_mean] * 2 + [0.0, 0.0], device=x.device),
            torch.tensor([priors.scale_std] * 2 + [1.0, 1.0], device=x.device),
        )
        kl_where = kl_divergence(where, where_prior).sum(-1)
        kl_depth = kl_divergence(depth, Normal(0.0, 1.0)).sum(-1)
        kl_what = kl_divergence(what, Normal(0.0, 1.0)).sum(-1).view(b, n)
        return {
            "fg": fg,
            "alpha": alpha,
            "kl_pres": kl_pres.sum(1),
            "kl_where": (z_pres * kl_where).sum(1),
            "kl_depth": (z_pres * kl_depth).sum(1),
            "kl_what": (z_pres * kl_what).sum(1),
            "z_pres": z_pres,
            "centre": centre,
            "scale": scale,
        }

    def _render(self, decoded: torch.Tensor, centre: torch.Tensor, scale: torch.Tensor,
                z_pres: torch.Tensor, z_depth: torch.Tensor, size: torch.Size
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Composite the glimpses: depth-weighted colour and alpha = 1 - prod(1 - alpha_i).

        Each glimpse is turned into premultiplied quantities first (importance times colour,
        importance = alpha * z_pres * sigmoid(-depth), and log(1 - alpha * z_pres)), which are
        warped into the image and summed over glimpses; resampling premultiplied colour is the
        correct way to resample RGBA and keeps the per-pixel work to one warp.
        """
        b, n = z_pres.shape
        h, w = size
        colour, alpha = decoded[:, :3], decoded[:, 3:] * z_pres.view(-1, 1, 1, 1)
        importance = alpha * torch.sigmoid(-z_depth).view(-1, 1, 1, 1)
        parts = torch.cat([importance * colour, importance, torch.log1p(-alpha.clamp(max=1 - EPS))], 1)
        s = scale.reshape(-1, 2).clamp_min(EPS)
        if self.radius < 0:
            drawn = warp(parts, 1.0 / s, -centre.reshape(-1, 2) / s, h, w)
            total = drawn.reshape(b, n, 5, h, w).sum(1)
        else:
            side = (2 * self.radius + 1) * self.cell
            extent = (2 * self.radius + 1) / self.grid
            shift = (self.cell_centres - centre).reshape(-1, 2) / s
            drawn = warp(parts, extent / s, shift, side, side).reshape(b, n, 5 * side * side)
            total = F.fold(drawn.transpose(1, 2), (h, w), side, padding=self.radius * self.cell,
                           stride=self.cell)
        fg = total[:, :3] / (total[:, 3:4] + EPS)
        alpha = 1 - torch.exp(total[:, 4:5])
        return fg, alpha


def warp(images: torch.Tensor, a: torch.Tensor, b: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """``F.grid_sample`` (bilinear, zero padding) of the axis-aligned grid ``u = a * v + b``, as matmuls.

    SPACE's boxes are never rotated, so the sampling grid is separable: an output row reads source
    rows through a (out_h, h) matrix of bilinear weights and columns through a (out_w, w) one.
    Two small matmuls replace a gather over every output pixel, several times faster on a CPU.
    ``images`` (N, C, h, w); ``a``, ``b`` (N, 2) as (x, y) in normalised coordinates.
    """
    h, w = images.shape[-2:]
    rows = _bilinear_weights(a[:, 1], b[:, 1], out_h, h)
    cols = _bilinear_weights(a[:, 0], b[:, 0], out_w, w)
    return rows.unsqueeze(1) @ images @ cols.transpose(1, 2).unsqueeze(1)


def _bilinear_weights(a: torch.Tensor, b: torch.Tensor, n_out: int, n_in: int) -> torch.Tensor:
    """(N, n_out, n_in) weights of linear interpolation, pixel centres as in align_corners=False."""
    v = (torch.arange(n_out, device=a.device, dtype=a.dtype) * 2 + 1) / n_out - 1
    source = ((a[:, None] * v + b[:, None] + 1) * n_in - 1) / 2  # in source pixel units
    pixels = torch.arange(n_in, device=a.device, dtype=a.dtype)
    return (1 - (source[:, :, None] - pixels).abs()).clamp_min(0)


def _theta(centre: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(M, 2, 3) affine maps from a glimpse's [-1, 1] square to its box: scale, then shift."""
    theta = centre.new_zeros(len(centre), 2, 3)
    theta[:, 0, 0] = scale[:, 0]
    theta[:, 1, 1] = scale[:, 1]
    theta[:, :, 2] = centre
    return theta
