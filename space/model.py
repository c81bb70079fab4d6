"""SPACE (Lin et al., ICLR 2020): a foreground of grid-cell objects over a mixture background.

Each pixel is explained by the foreground with probability alpha (the composited glimpse alpha)
and by the background otherwise, so the likelihood is ``alpha N(x; fg, s_fg) + (1 - alpha)
sum_k pi_k N(x; bg_k, s_bg)``. The loss is the negative ELBO: that log-likelihood summed over
pixels minus the KL terms of every latent. During the warm-up alpha is held at a fixed value so
that the background learns the scene before the foreground claims it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Normal

from space.background import Background
from space.config import SpaceModelConfig
from space.foreground import Foreground, Latents, Priors

KL_TERMS = ("kl_pres", "kl_where", "kl_depth", "kl_what", "kl_bg")


class Space(nn.Module):
    def __init__(self, cfg: SpaceModelConfig):
        super().__init__()
        self.cfg = cfg
        self.fg = Foreground(cfg)
        self.bg = Background(cfg)

    def forward(self, x: torch.Tensor, priors: Priors, fix_alpha: float | None = None,
                sample: bool = True) -> dict[str, torch.Tensor]:
        """``x`` (B, 3, S, S) in [0, 1] -> loss (scalar), terms (B,) and images for logging."""
        bg = self.bg(x, self.cfg.bg_sigma, sample)
        fg = self.fg(x, priors, sample)
        alpha = fg["alpha"] if fix_alpha is None else torch.full_like(fg["alpha"], fix_alpha)
        fg_loglik = Normal(fg["fg"], self.cfg.fg_sigma).log_prob(x).sum(1, keepdim=True)
        mixture = torch.stack([alpha.clamp_min(1e-5).log() + fg_loglik,
                               (1 - alpha).clamp_min(1e-5).log() + bg["loglik"]])
        loglik = torch.logsumexp(mixture, 0).flatten(1).sum(1)
        kl = sum(fg[k] for k in KL_TERMS[:4]) + bg["kl_bg"]
        recon = alpha * fg["fg"] + (1 - alpha) * bg["bg"]
        out = {
            "loss": (kl - loglik).mean(),
            "elbo": loglik - kl,
            "loglik": loglik,
            "mse": (recon - x).pow(2).flatten(1).sum(1),
            "recon": recon,
            "fg_image": fg["fg"] * fg["alpha"],
            "alpha": fg["alpha"],
            "bg_image": bg["bg"],
            "z_pres": fg["z_pres"],
            "centre": fg["centre"],
            "scale": fg["scale"],
        }
        out.update({k: fg[k] for k in KL_TERMS[:4]})
        out["kl_bg"] = bg["kl_bg"]
        return out

    @torch.no_grad()
    def latents(self, x: torch.Tensor, min_presence: float = 0.0) -> Latents:
        return self.fg.latents(x, min_presence)
