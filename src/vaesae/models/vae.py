"""β-VAE-style convolutional VAE whose last encoder feature map flattens to ``h_flat``.

Encoder (x ∈ [0,1]^{C×64×64}):
    conv 4×4 stride 2 (channels c_1 … c_n, ReLU), 64 → 64/2^n spatial,
    conv 3×3 stride 1 to ``h_channels`` (ReLU), then flatten:  h_flat ∈ R^{h_channels·s·s}
    (paper config: 64 × 8 × 8 = 4096 with three stride-2 convs),
    fc h_flat → fc_hidden (ReLU) → (μ, log σ²) ∈ R^{2L}.
Decoder (z ∈ R^L):
    fc L → fc_hidden (ReLU) → h_channels·s·s, reshape, transposed convs mirroring the encoder → logits ∈ R^{C×64×64}.

The reparameterisation is z = μ + σ ⊙ ε, ε ~ N(0, I). The decoder returns Bernoulli logits.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvEncoder(nn.Module):
    """x (B, C, 64, 64) → h_flat (B, D) → (μ, log σ²), each (B, L)."""

    def __init__(self, in_channels: int, channels: list[int], h_channels: int, fc_hidden: int, latent_dim: int):
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for c in channels:
            layers += [nn.Conv2d(prev, c, 4, stride=2, padding=1), nn.ReLU()]
            prev = c
        layers += [nn.Conv2d(prev, h_channels, 3, stride=1, padding=1), nn.ReLU()]
        self.conv = nn.Sequential(*layers)
        self.spatial = 64 // (2 ** len(channels))
        self.h_dim = h_channels * self.spatial * self.spatial
        self.head = nn.Sequential(nn.Linear(self.h_dim, fc_hidden), nn.ReLU(), nn.Linear(fc_hidden, 2 * latent_dim))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """h_flat: the flattened last conv feature map, (B, h_dim)."""
        return self.conv(x).flatten(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.features(x)
        mu, logvar = self.head(h).chunk(2, dim=1)
        return h, mu, logvar


class ConvDecoder(nn.Module):
    """z (B, L) → Bernoulli logits (B, C, 64, 64), mirroring :class:`ConvEncoder`."""

    def __init__(self, out_channels: int, channels: list[int], h_channels: int, fc_hidden: int, latent_dim: int):
        super().__init__()
        self.h_channels = h_channels
        self.spatial = 64 // (2 ** len(channels))
        h_dim = h_channels * self.spatial * self.spatial
        self.fc = nn.Sequential(nn.Linear(latent_dim, fc_hidden), nn.ReLU(), nn.Linear(fc_hidden, h_dim), nn.ReLU())
        layers: list[nn.Module] = [nn.Conv2d(h_channels, channels[-1], 3, stride=1, padding=1), nn.ReLU()]
        rev = list(reversed(channels))
        for i, c in enumerate(rev):
            nxt = rev[i + 1] if i + 1 < len(rev) else out_channels
            layers.append(nn.ConvTranspose2d(c, nxt, 4, stride=2, padding=1))
            if i + 1 < len(rev):
                layers.append(nn.ReLU())
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, self.h_channels, self.spatial, self.spatial)
        return self.deconv(h)


class VAE(nn.Module):
    """Encoder + decoder. ``forward`` returns (h_flat, μ, log σ², z, logits)."""

    def __init__(self, in_channels: int, channels: list[int], h_channels: int, fc_hidden: int, latent_dim: int):
        super().__init__()
        self.encoder = ConvEncoder(in_channels, channels, h_channels, fc_hidden, latent_dim)
        self.decoder = ConvDecoder(in_channels, channels, h_channels, fc_hidden, latent_dim)
        self.latent_dim = latent_dim

    @property
    def h_dim(self) -> int:
        return self.encoder.h_dim

    def forward(self, x: torch.Tensor, sample: bool = True):
        h, mu, logvar = self.encoder(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        return h, mu, logvar, z, self.decoder(z)
