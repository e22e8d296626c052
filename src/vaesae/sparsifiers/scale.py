"""The unit that the remedies' auxiliary loss terms are scaled to (AuxK's and JumpReLU's).

    S = Σ_b ‖x_b − x̄‖² / B          under ``loss.sae_reduction: sum`` (the paper's SAE loss: per-sample sums)
    S = Σ_b ‖x_b − x̄‖² / (B · d)    under ``loss.sae_reduction: mean``

S is the SAE reconstruction loss of predicting every input by the batch mean, detached. The reference
implementations normalise their reconstruction loss by this variance; the paper's SAE loss is not normalised, so a
term that the references add to a normalised loss is multiplied by S here, which keeps its weight relative to the
reconstruction term.
"""

from __future__ import annotations

import torch


def input_scale(x: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """S of a batch of SAE inputs x (B, d), as a detached 0-d tensor."""
    x = x.detach()
    scale = (x - x.mean(0, keepdim=True)).pow(2).sum() / x.shape[0]
    return scale / x.shape[1] if reduction == "mean" else scale
