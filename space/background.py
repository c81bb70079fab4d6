"""SPACE's background: K components, each a mask and an appearance, mixed by stick-breaking.

Mask latents are inferred one after another (an LSTM sees the image and the previous mask
latent; the prior is an LSTM over the previous mask latents alone). Mask k takes a share
``m_k`` of the scope left by masks 1..k-1 and the last component takes what remains. Each
component's appearance latent is inferred from the image and its mask, with a prior given by its
mask latent. With K = 1 the background is a single VAE with a standard normal prior. Decoders
work at ``image_size / bg_stride`` and are upsampled: a coarse background cannot draw small
moving sprites, which leaves them to the foreground. ``bg_canvas`` adds a learned full-resolution
image, the same in every frame, for sharp static scenery such as Atari's walls.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal, kl_divergence

from space.config import SpaceModelConfig
from space.nets import DownEncoder, UpDecoder, gaussian


class Background(nn.Module):
    def __init__(self, cfg: SpaceModelConfig):
        super().__init__()
        self.k = cfg.bg_components
        self.size = cfg.image_size
        out = cfg.image_size // cfg.bg_stride
        d, c, hidden = cfg.z_bg_dim, cfg.channels // 2, 4 * cfg.z_bg_dim
        self.comp_encoder = DownEncoder(3 + (self.k > 1), cfg.image_size, c, 2 * d)
        self.comp_decoder = UpDecoder(d, 3, out, c)
        # static scenery at full resolution (walls, borders): the same for every frame, so it can
        # sharpen the coarse background without being able to draw moving sprites
        self.canvas = nn.Parameter(torch.zeros(3, cfg.image_size, cfg.image_size)) if cfg.bg_canvas else None
        if self.k > 1:
            self.image_encoder = DownEncoder(3, cfg.image_size, c, hidden)
            self.mask_post = nn.LSTMCell(hidden + d, hidden)
            self.mask_post_head = nn.Linear(hidden, 2 * d)
            self.mask_prior = nn.LSTMCell(d, hidden)
            self.mask_prior_head = nn.Linear(hidden, 2 * d)
            self.mask_decoder = UpDecoder(d, 1, out, c)
            self.comp_prior = nn.Sequential(nn.Linear(d, hidden), nn.CELU(), nn.Linear(hidden, 2 * d))

    def init_canvas(self, frames: torch.Tensor) -> None:
        """Start the canvas at the per-pixel median frame: scenery is the same in most frames."""
        if self.canvas is not None:
            median = frames.float().median(0).values.div(255.0).clamp(0.02, 0.98)
            with torch.no_grad():
                self.canvas.copy_(torch.logit(median))

    def _upsample(self, maps: torch.Tensor) -> torch.Tensor:
        if maps.shape[-1] == self.size:
            return maps
        return F.interpolate(maps, size=(self.size, self.size), mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor, sigma: float, sample: bool = True) -> dict[str, torch.Tensor]:
        """Background mean image, per-pixel log-likelihood (B, 1, H, W), KL (B,), log masks."""
        b = x.shape[0]
        if self.k == 1:
            log_masks = x.new_zeros(b, 1, 1, *x.shape[-2:])
            post = gaussian(self.comp_encoder(x))
            z = post.rsample() if sample else post.mean
            kl = kl_divergence(post, Normal(0.0, 1.0)).sum(-1)
        else:
            log_masks, z_masks, kl = self._masks(x, sample)
            inputs = torch.cat([x.unsqueeze(1).expand(-1, self.k, -1, -1, -1), log_masks], 2)
            post = gaussian(self.comp_encoder(inputs.flatten(0, 1)))
            prior = gaussian(self.comp_prior(z_masks.flatten(0, 1)))
            z = post.rsample() if sample else post.mean
            kl = kl + kl_divergence(post, prior).sum(-1).view(b, self.k).sum(1)
        logits = self._upsample(self.comp_decoder(z))
        if self.canvas is not None:
            logits = logits + self.canvas
        colours = torch.sigmoid(logits).view(b, self.k, 3, *x.shape[-2:])
        loglik = Normal(colours, sigma).log_prob(x.unsqueeze(1)).sum(2, keepdim=True)
        return {
            "bg": (log_masks.exp() * colours).sum(1),
            "loglik": torch.logsumexp(log_masks + loglik, 1),
            "kl_bg": kl,
            "log_masks": log_masks,
        }

    def _masks(self, x: torch.Tensor, sample: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stick-breaking log masks (B, K, 1, H, W), mask latents (B, K, d), their KL (B,)."""
        b = x.shape[0]
        features = self.image_encoder(x)
        d = self.mask_post_head.out_features // 2
        z_prev = x.new_zeros(b, d)
        state_q = state_p = None
        latents, kl = [], x.new_zeros(b)
        for _ in range(self.k):
            state_q = self.mask_post(torch.cat([features, z_prev], 1), state_q)
            state_p = self.mask_prior(z_prev, state_p)
            post = gaussian(self.mask_post_head(state_q[0]))
            prior = gaussian(self.mask_prior_head(state_p[0]))
            z_prev = post.rsample() if sample else post.mean
            kl = kl + kl_divergence(post, prior).sum(-1)
            latents.append(z_prev)
        z_masks = torch.stack(latents, 1)
        logits = self._upsample(self.mask_decoder(z_masks.flatten(0, 1))).view(b, self.k, 1, *x.shape[-2:])
        log_m, log_rest = F.logsigmoid(logits[:, :-1]), F.logsigmoid(-logits[:, :-1])
        scope = torch.cat([torch.zeros_like(log_rest[:, :1]), log_rest.cumsum(1)], 1)  # log of what is left
        log_masks = torch.cat([log_m + scope[:, :-1], scope[:, -1:]], 1)
        return log_masks, z_masks, kl
