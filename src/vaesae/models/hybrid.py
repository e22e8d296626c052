"""The hybrid VAE-SAE: a VAE with two SAE probes, one on h_flat (conv SAE) and one on z (latent SAE).

The SAEs are probes, not layers the VAE's forward pass goes through (method-notes): the VAE reconstructs x from z
alone; the conv SAE reconstructs h_flat and the latent SAE reconstructs z (μ at evaluation). In joint training their
losses backpropagate into the shared encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .sae import SparseAutoencoder
from .vae import VAE


@dataclass
class HybridOutput:
    h: torch.Tensor  # (B, h_dim) h_flat
    mu: torch.Tensor  # (B, L)
    logvar: torch.Tensor  # (B, L)
    z: torch.Tensor  # (B, L)
    logits: torch.Tensor  # (B, C, 64, 64)
    a_conv: torch.Tensor  # (B, m_conv) ã after Top-k
    h_hat: torch.Tensor  # (B, h_dim)
    a_lat: torch.Tensor  # (B, m_lat)
    z_hat: torch.Tensor  # (B, L)


class HybridVAESAE(nn.Module):
    def __init__(self, in_channels: int, model_cfg: dict):
        super().__init__()
        self.vae = VAE(
            in_channels,
            list(model_cfg["encoder_channels"]),
            model_cfg["h_channels"],
            model_cfg["fc_hidden"],
            model_cfg["latent_dim"],
        )
        self.conv_sae = SparseAutoencoder(self.vae.h_dim, model_cfg["conv_sae_neurons"])
        self.latent_sae = SparseAutoencoder(model_cfg["latent_dim"], model_cfg["latent_sae_neurons"])

    def forward(self, x: torch.Tensor, k: int | None, k_latent: int | None, sample: bool = True) -> HybridOutput:
        h, mu, logvar, z, logits = self.vae(x, sample=sample)
        a_conv, h_hat = self.conv_sae(h, k)
        a_lat, z_hat = self.latent_sae(z, k_latent)
        return HybridOutput(h, mu, logvar, z, logits, a_conv, h_hat, a_lat, z_hat)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
