"""Centred SAE inputs (a remedy beyond the paper; methods with ``centred=True`` in ``vaesae.methods``).

Recent work ties dead latents to uncentred SAE inputs (the conv SAE reads post-ReLU feature maps, far from centred).
A centred method encodes h − μ and decodes to W_d ã + μ (``SparseAutoencoder.b_pre``), with μ a running mean of the
SAE's training inputs, updated on every training batch before the SAEs see it:

    μ ← mean_b h_b                              on the first stage-3 batch
    μ ← μ + r · (mean_b h_b − μ)                afterwards (r = ``sparsify.center_rate``)

for the conv SAE (input h_flat) and the latent SAE (input z) alike. μ is a buffer of the model, so it travels in
every checkpoint, extended training continues it, and the evaluation uses it as trained (no update).
"""

from __future__ import annotations

import torch


class InputCentring:
    """The running means μ of both SAE inputs; ``started`` once the first batch has set them."""

    def __init__(self, rate: float, started: bool = False):
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"sparsify.center_rate must be in (0, 1], got {rate}")
        self.rate = float(rate)
        self.started = started

    @torch.no_grad()
    def update(self, model, h: torch.Tensor, z: torch.Tensor) -> None:
        """Move μ of the conv SAE towards the batch mean of h, and μ of the latent SAE towards that of z."""
        for sae, x in ((model.conv_sae, h), (model.latent_sae, z)):
            mean = x.detach().float().mean(0)
            if self.started:
                sae.b_pre.lerp_(mean, self.rate)
            else:
                sae.b_pre.copy_(mean)
        self.started = True
