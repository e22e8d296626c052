"""L1 anneal: no Top-k, a linearly increasing L1 coefficient (paper §3.3; ``vaesae.schedules``).

    ã    = ReLU(pre)                                   every positive activation is kept
    λ(t) = λ_0 + (λ_1 − λ_0) · t / (E − 1)              λ(0) = l1_start, λ(E − 1) = l1_end
    k = k_lat = None

final() = sparsity(E − 1). Keys: ``vaesae.config.keys.L1Keys``.
"""

from __future__ import annotations

import torch

from vaesae import schedules
from vaesae.config.keys import L1Keys

from .base import Sparsifier, Sparsity


class L1Anneal(Sparsifier):
    Keys = L1Keys

    def __init__(self, keys: L1Keys, conv_neurons: int, latent_neurons: int):
        self.epochs = keys.epochs
        self.l1_start, self.l1_end = keys.l1_start, keys.l1_end

    def sparsity(self, epoch: int) -> Sparsity:
        return Sparsity(None, None, schedules.l1_schedule(epoch, self.epochs, self.l1_start, self.l1_end))

    def final(self) -> Sparsity:
        return self.sparsity(self.epochs - 1)

    def activate(self, pre: torch.Tensor, k: int | None, **_) -> torch.Tensor:
        """ã = ReLU(pre) (``k`` is ignored)."""
        return torch.relu(pre)
