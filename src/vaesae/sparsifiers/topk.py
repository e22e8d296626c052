"""Top-k with a cosine-annealed k (paper eqs. (1)–(2), §3.3; ``vaesae.train.schedules``).

    ã(t)    = ReLU(pre) ⊙ 1_topk(t)(ReLU(pre))                    keep the k(t) largest of each row
    k(t)    = k_start                                             t < W (warm-up)
            = round(k_end + (k_start − k_end) · cos(π τ / 2))     τ = (t − W) / A, W ≤ t < W + A (anneal)
            = k_end                                               t ≥ W + A (hold)
    k_lat(t) = max(1, round(k(t) · m_lat / m_conv))               latent SAE: the same active fraction
    λ       = topk_l1_coeff                                       L1 term kept in the SAE loss

final() = (k_end, k_lat(k_end), λ): extended training continues at k_end.
"""

from __future__ import annotations

from vaesae.train import schedules
from vaesae.train.config import SparsifyConfig

from .base import Sparsifier, Sparsity


class TopK(Sparsifier):
    def __init__(self, cfg: SparsifyConfig, conv_neurons: int, latent_neurons: int):
        self.epochs = cfg.need("epochs")
        self.k_start, self.k_end = cfg.need("k_start"), cfg.need("k_end")
        self.warmup_fraction, self.hold_fraction = cfg.need("warmup_fraction"), cfg.need("hold_fraction")
        self.l1 = cfg.need("topk_l1_coeff")
        self.conv_neurons, self.latent_neurons = conv_neurons, latent_neurons

    def _at(self, k: int) -> Sparsity:
        return Sparsity(k, schedules.latent_k(k, self.latent_neurons, self.conv_neurons), self.l1)

    def sparsity(self, epoch: int) -> Sparsity:
        return self._at(schedules.k_schedule(epoch, self.epochs, self.k_start, self.k_end, self.warmup_fraction,
                                             self.hold_fraction))  # fmt: skip

    def final(self) -> Sparsity:
        return self._at(self.k_end)
