"""Top-k with a cosine-annealed k (paper eqs. (1)–(2), §3.3; ``vaesae.schedules``).

    ã(t)    = ReLU(pre) ⊙ 1_topk(t)(ReLU(pre))                    keep the k(t) largest of each row
    k(t)    = k_start                                             t < W (warm-up)
            = round(k_end + (k_start − k_end) · cos(π τ / 2))     τ = (t − W) / A, W ≤ t < W + A (anneal)
            = k_end                                               t ≥ W + A (hold)
    k_lat(t) = max(1, round(k(t) · m_lat / m_conv))               latent SAE: the same active fraction
    λ       = topk_l1_coeff                                       L1 term kept in the SAE loss

final() = (k_end, k_lat(k_end), λ): extended training continues at k_end. Keys: ``vaesae.config.keys.TopKKeys``.

``CentredTopK`` (the ``topk_centred`` arm) is the same sparsifier with ``center_rate`` among its keys: the stage keeps
the running means of the SAE inputs at that rate (``vaesae.train.centring``).
"""

from __future__ import annotations

from vaesae import schedules
from vaesae.config.keys import CentredTopKKeys, TopKKeys

from .base import Sparsifier, Sparsity


class TopK(Sparsifier):
    Keys = TopKKeys

    def __init__(self, keys: TopKKeys, conv_neurons: int, latent_neurons: int):
        self.epochs = keys.epochs
        self.k_start, self.k_end = keys.k_start, keys.k_end
        self.warmup_fraction, self.hold_fraction = keys.warmup_fraction, keys.hold_fraction
        self.l1 = keys.topk_l1_coeff
        self.conv_neurons, self.latent_neurons = conv_neurons, latent_neurons

    def _at(self, k: int) -> Sparsity:
        return Sparsity(k, schedules.latent_k(k, self.latent_neurons, self.conv_neurons), self.l1)

    def sparsity(self, epoch: int) -> Sparsity:
        return self._at(schedules.k_schedule(epoch, self.epochs, self.k_start, self.k_end, self.warmup_fraction,
                                             self.hold_fraction))  # fmt: skip

    def final(self) -> Sparsity:
        return self._at(self.k_end)


class CentredTopK(TopK):
    """Top-k on centred SAE inputs: Top-k's k(t), with ``center_rate`` for the stage's running means."""

    Keys = CentredTopKKeys
