"""Forward the fixed evaluation set through a model and measure it.

Used both for the per-epoch monitor (``history.csv``) and for the final evaluation files. Everything stays on the
model's device; only the scalar results and the (N, L) VAE means come back to the host. The SAE activations ã are
``activate(pre, k)`` of the phase's sparsifier (``vaesae.sparsifiers``; default ReLU then Top-k).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vaesae.metrics import activation_rate, dead_pct, mig, neuron_factor_mi, specialized_count
from vaesae.metrics.mse import squared_error_sum
from vaesae.models.sae import Activation, relu_topk


@dataclass
class EvalOutputs:
    mu: torch.Tensor  # (N, L) VAE means
    a_conv: torch.Tensor  # (N, m_conv) conv-SAE ã
    a_lat: torch.Tensor  # (N, m_lat) latent-SAE ã (input μ)
    mse: float


@torch.no_grad()
def forward_eval(
    model,
    images_u8: torch.Tensor,
    k,
    k_latent,
    batch_size: int,
    with_sae: bool = True,
    activate: Activation = relu_topk,
) -> EvalOutputs:
    """Run the evaluation images (uint8, (N, C, 64, 64), on the model's device) through the model, no sampling.

    ``with_sae=False`` (VAE pretraining, before the SAEs are trained) skips the SAEs: empty activations.
    MSE = Σ (sigmoid(logits) − x)² / (N·C·64·64), the sum accumulated in float64 on the device."""
    mus, convs, lats = [], [], []
    sq_err = torch.zeros((), dtype=torch.float64, device=images_u8.device)
    for start in range(0, images_u8.shape[0], batch_size):
        x = images_u8[start : start + batch_size].float().div_(255.0)
        h, mu, _, _, logits = model.vae(x, sample=False)
        mus.append(mu)
        if with_sae:
            convs.append(model.conv_sae.encode(h, k, activate))
            lats.append(model.latent_sae.encode(mu, k_latent, activate))
        sq_err += squared_error_sum(torch.sigmoid(logits), x)
    n_pix = images_u8.numel()
    empty = torch.empty(images_u8.shape[0], 0, device=images_u8.device)
    return EvalOutputs(
        mu=torch.cat(mus),
        a_conv=torch.cat(convs) if convs else empty,
        a_lat=torch.cat(lats) if lats else empty,
        mse=float(sq_err.item() / n_pix),
    )


def measure(
    out: EvalOutputs,
    factors: np.ndarray,
    *,
    n_bins: int,
    dead_threshold: float | None = None,
    specialization_threshold: float | None = None,
) -> dict:
    """Scalar metrics of one evaluation pass, plus the matrices the evaluation file stores (the SAE ones need the
    two thresholds)."""
    mig_result = mig(out.mu.float().cpu().numpy(), factors, n_bins=n_bins)
    result = {"mig": float(mig_result.score), "mse": out.mse, "latent_mi": mig_result.latent_mi}
    if out.a_conv.shape[1]:
        if dead_threshold is None or specialization_threshold is None:
            raise ValueError("measuring SAE activations needs eval.dead_threshold and eval.specialization_threshold")
        for name, acts in (("conv", out.a_conv), ("latent", out.a_lat)):
            rates = np.asarray(activation_rate(acts), dtype=np.float64)
            mi = np.asarray(neuron_factor_mi(acts, factors, n_bins=n_bins), dtype=np.float64)
            prefix = "" if name == "conv" else "latent_"
            result[f"{prefix}dead_pct"] = float(dead_pct(rates, dead_threshold))
            result[f"{prefix}specialized"] = int(specialized_count(mi, specialization_threshold))
            result[f"{name}_rates"] = rates
            result[f"{name}_mi"] = mi
    return result
