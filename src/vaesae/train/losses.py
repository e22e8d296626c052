"""Loss terms. All are per-sample sums averaged over the batch, except the SAE reconstruction under
``loss.sae_reduction: mean``.

Bernoulli reconstruction:  R(x) = Σ_pixels BCEWithLogits(logits, x),  x ∈ [0, 1]
KL to N(0, I):             KL_j = ½ (μ_j² + σ_j² − log σ_j² − 1)
Free bits ("total"):       KL_fb = max(Σ_j KL_j, F)          on each sample (method-notes)
Free bits ("per_dim"):     KL_fb = Σ_j max(KL_j, F / L)
VAE:                       L_VAE = R + β · KL_fb
SAE (``sum``, default):     L_SAE = ‖h − ĥ‖² + λ · ‖ã‖₁            per-sample sums, batch mean (the literal reading)
SAE (``mean``):            L_SAE = ‖h − ĥ‖² / d + λ · ‖ã‖₁        reconstruction as a per-element mean over the d
                                                                 inputs, L1 still a per-sample sum: the L1 term is
                                                                 d (4,096 for h) times stronger relative to it
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bernoulli_recon(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """(B, L) KL of each dimension of q(z|x) = N(μ, σ²) from N(0, 1)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)


def free_bits_kl(mu: torch.Tensor, logvar: torch.Tensor, free_bits: float, mode: str = "total") -> torch.Tensor:
    kl = kl_per_dim(mu, logvar)
    if mode == "total":
        return kl.sum(1).clamp_min(free_bits).mean()
    if mode == "per_dim":
        return kl.clamp_min(free_bits / kl.shape[1]).sum(1).mean()
    raise ValueError(f"pretrain.free_bits_mode must be 'total' or 'per_dim', got {mode!r}")


SAE_REDUCTIONS = ("sum", "mean")


def sae_loss(h: torch.Tensor, h_hat: torch.Tensor, a: torch.Tensor, l1: float, reduction: str = "sum") -> torch.Tensor:
    if reduction == "sum":
        recon = (h - h_hat).pow(2).sum(1).mean()
    elif reduction == "mean":
        recon = (h - h_hat).pow(2).mean()
    else:
        raise ValueError(f"loss.sae_reduction must be one of {SAE_REDUCTIONS}, got {reduction!r}")
    return recon + l1 * a.abs().sum(1).mean()
