"""BatchTopK (Bussmann et al. 2024; SAELens ``batchtopk_sae.py``, dictionary_learning ``batch_top_k.py``), on the
Top-k arm's k(t), λ and revival.

Training keeps the k·B largest activations of the whole batch instead of k per sample:

    a        = ReLU(pre)                                       (B, m)
    ã        = a ⊙ 1[a is among the k(t)·B largest entries of a]   (the latent SAE: k_lat(t)·B)

so a sample may use more or fewer than k neurons, k on average. Evaluation has no batch to rank over: it zeroes the
activations below a threshold θ learned during training,

    ã_eval   = a ⊙ 1[a > θ]
    θ        ← m_t                          on the first training batch (m_t: the smallest positive kept activation)
    θ        ← θ + r · (m_t − θ)            afterwards, r = ``batchtopk_threshold_rate`` (SAELens' EMA rate, 0.01)

one θ per SAE, kept in the checkpoint. θ follows k(t) with a lag of about 1/r steps; the evaluation's L0 is measured,
not fixed.

``batchtopk_unit_norm_decoder: true`` keeps the decoder columns at unit norm as the references do (SAELens and
dictionary_learning ship BatchTopK with unit-norm decoders; ``vaesae.sparsifiers.unit_norm``, AuxK's code): rescaled
at the start of stage 3 keeping each kept activation's reconstruction, renormalised before every step with the
gradient's parallel part removed. Off by default (the run is then exactly BatchTopK as before the key).
"""

from __future__ import annotations

import torch

from vaesae.config.keys import BatchTopKKeys

from .base import SAES, SAEPass
from .select import topk_mask_flat
from .topk import TopK
from .unit_norm import renormalise_model, rescale_model


def batch_topk(a: torch.Tensor, k_total: int) -> torch.Tensor:
    """a ⊙ 1[a among the ``k_total`` largest entries of the whole (B, m) tensor], exactly ``k_total`` kept:

        ã = a ⊙ (1[a > τ] + 1[a = τ, among the first n_ties such entries in row-major order])

    τ = the k_total-th largest entry of a (entries ≤ 0 count as 0) and n_ties = k_total − #{a > τ}, both from the
    radix select of ``select.py`` (no sort, no host sync): ties at τ are kept by index, first come first kept. When
    τ is untied this equals ``torch.topk``'s selection, and the gradient is grad ⊙ the same mask."""
    if k_total >= a.numel():
        return a
    return torch.where(topk_mask_flat(a, k_total), a, 0)


def smallest_positive(a: torch.Tensor) -> torch.Tensor:
    """The smallest positive entry of ``a`` (+inf when there is none), as a 0-d tensor (no host sync)."""
    return torch.where(a > 0, a, torch.full_like(a, float("inf"))).min()


class BatchTopK(TopK):
    Keys = BatchTopKKeys

    def __init__(self, keys: BatchTopKKeys, conv_neurons: int, latent_neurons: int):
        super().__init__(keys, conv_neurons, latent_neurons)
        self.rate = float(keys.batchtopk_threshold_rate)
        self.unit_norm_decoder = bool(keys.batchtopk_unit_norm_decoder)
        self.theta = {name: torch.full((), -1.0, dtype=torch.float64) for name in SAES}  # < 0: not yet set

    def to(self, device):
        self.theta = {name: t.to(device) for name, t in self.theta.items()}
        return self

    def activate(self, pre, k, *, sae="conv", training=False):
        a = torch.relu(pre)
        if training:
            return a if k is None else batch_topk(a, k * a.shape[0])
        theta = self.theta[sae].to(device=a.device, dtype=a.dtype)
        return a * (a > theta)

    def begin(self, model):
        if self.unit_norm_decoder:
            rescale_model(model)

    def before_step(self, model) -> None:
        if self.unit_norm_decoder:
            renormalise_model(model)

    def observe(self, conv: SAEPass, latent: SAEPass) -> None:
        for name, p in (("conv", conv), ("latent", latent)):
            low = smallest_positive(p.a.detach()).double()
            theta = self.theta[name]
            ema = torch.where(theta < 0, low, theta + self.rate * (low - theta))
            theta.copy_(torch.where(torch.isfinite(low), ema, theta))  # in place: a CUDA graph replays this

    def state_dict(self) -> dict:
        return {f"theta_{name}": float(self.theta[name]) for name in SAES}

    def load_state_dict(self, state: dict) -> None:
        for name in SAES:
            self.theta[name].fill_(float(state[f"theta_{name}"]))
