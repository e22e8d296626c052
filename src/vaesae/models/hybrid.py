"""The hybrid VAE-SAE: a VAE with two SAE probes, one on h_flat (conv SAE) and one on z (latent SAE).

The SAEs are probes, not layers the VAE's forward pass goes through (method-notes): the VAE reconstructs x from z
alone; the conv SAE reconstructs h_flat and the latent SAE reconstructs z (μ at evaluation). In joint training their
losses backpropagate into the shared encoder (``model.sae_gradient: joint``, the paper). ``forward(...,
detach_sae=True)`` (``model.sae_gradient: detach``, or a method that is a stop-gradient control) detaches h_flat and z
once the VAE's logits are computed: the SAEs' inputs and their reconstruction targets (``HybridOutput.h``/``.z``) are
then constants, so the SAE losses train the SAEs only and send no gradient into the VAE, which trains on its own
loss; the SAEs become pure probes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
from torch import nn

from .sae import Activation, SparseAutoencoder, relu_topk
from .vae import VAE

if TYPE_CHECKING:
    from vaesae.config.sections import ModelConfig


@dataclass
class HybridOutput:
    h: torch.Tensor  # (B, h_dim) h_flat
    mu: torch.Tensor  # (B, L)
    logvar: torch.Tensor  # (B, L)
    z: torch.Tensor  # (B, L)
    logits: torch.Tensor  # (B, C, 64, 64)
    a_conv: torch.Tensor  # (B, m_conv) ã after the activation (Top-k ...)
    h_hat: torch.Tensor  # (B, h_dim)
    a_lat: torch.Tensor  # (B, m_lat)
    z_hat: torch.Tensor  # (B, L)
    pre_conv: torch.Tensor  # (B, m_conv) conv-SAE pre-activations
    pre_lat: torch.Tensor  # (B, m_lat) latent-SAE pre-activations


class HybridVAESAE(nn.Module):
    """Built from a :class:`vaesae.config.sections.ModelConfig` (``ModelConfig.from_params(params["model"])``)."""

    def __init__(self, in_channels: int, model_cfg: ModelConfig):
        super().__init__()
        self.vae = VAE(
            in_channels,
            list(model_cfg.encoder_channels),
            model_cfg.h_channels,
            model_cfg.fc_hidden,
            model_cfg.latent_dim,
        )
        tied, bias = model_cfg.tied_sae, model_cfg.sae_bias
        self.conv_sae = SparseAutoencoder(self.vae.h_dim, model_cfg.conv_sae_neurons, tied=tied, bias=bias)
        self.latent_sae = SparseAutoencoder(model_cfg.latent_dim, model_cfg.latent_sae_neurons, tied=tied, bias=bias)

    def forward(
        self,
        x: torch.Tensor,
        k: int | None,
        k_latent: int | None,
        sample: bool = True,
        activate: Activation = relu_topk,
        before_sae: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
        detach_sae: bool = False,
    ) -> HybridOutput:
        """``activate(pre, k, sae=..., training=self.training)`` gives ã; ``before_sae(h, z)``, when given, runs
        between the VAE and the SAEs (a centred method updates its running input means there). ``detach_sae``: the
        SAEs see (and ``h``/``z`` of the output are) h_flat and z detached, so no SAE loss reaches the VAE."""
        h, mu, logvar, z, logits = self.vae(x, sample=sample)
        if detach_sae:
            h, z = h.detach(), z.detach()
        if before_sae is not None:
            before_sae(h, z)
        pre_conv = self.conv_sae.pre(h)  # op order as SparseAutoencoder.forward: the backward sums in this order
        a_conv = activate(pre_conv, k, sae="conv", training=self.training)
        h_hat = self.conv_sae.decode(a_conv)
        pre_lat = self.latent_sae.pre(z)
        a_lat = activate(pre_lat, k_latent, sae="latent", training=self.training)
        z_hat = self.latent_sae.decode(a_lat)
        return HybridOutput(h=h, mu=mu, logvar=logvar, z=z, logits=logits, a_conv=a_conv, h_hat=h_hat, a_lat=a_lat,
                            z_hat=z_hat, pre_conv=pre_conv, pre_lat=pre_lat)  # fmt: skip


    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As ``nn.Module.load_state_dict``; a checkpoint of the other SAE tying (with or without ``*_sae.W_d``)
        is a ValueError naming ``model.tied_sae``, one of another SAE bias reading (with or without ``*_sae.b_dec``)
        one naming ``model.sae_bias``."""
        if strict and "conv_sae.W_e" in state_dict:
            has_bias = "conv_sae.b_dec" in state_dict
            if has_bias != (self.conv_sae.bias != "none"):
                got = "with a b_dec (model.sae_bias decoder or centred)" if has_bias else "without a b_dec (none)"
                raise ValueError(f"a checkpoint of SAEs {got} cannot be loaded into SAEs of model.sae_bias "
                                 f"{self.conv_sae.bias!r}: model.sae_bias must be the reading it was trained with")
            untied = "conv_sae.W_d" in state_dict
            if untied == self.conv_sae.tied:
                have, got = ("tied", "untied") if untied else ("untied", "tied")
                raise ValueError(f"a checkpoint of {got} SAEs cannot be loaded into {have} SAEs: model.tied_sae "
                                 f"must be what it was when the checkpoint was trained ({not untied})")
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
