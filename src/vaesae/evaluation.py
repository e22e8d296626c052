"""Forward the fixed evaluation set through a model and take its raw measurements.

Used both for the per-epoch monitor (``history.csv`` and ``history.h5``) and for the final evaluation files.
Everything stays on the model's device; only the results and the (N, L) VAE means come back to the host. The SAE
activations are read twice:

    ã  = activate(pre, k)   the phase's sparsifier at evaluation (default ReLU then Top-k): what the SAE decodes from
    a  = ReLU(pre)          the pre-Top-k reading (equal to ã for the L1 method)

and for each reading the per-neuron activation rates, the neuron x factor normalised MI matrix and the mean number
of active neurons per sample are measured. No threshold is applied here: dead and specialized counts are reporting
choices, computed downstream from these raw measurements (``vaesae.report.summary``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vaesae.metrics import activation_rate, mig, neuron_factor_mi
from vaesae.metrics.mse import squared_error_sum
from vaesae.models.sae import Activation, relu_topk

#: The two readings of the SAE activations: ``topk`` (ã, after the sparsifier) and ``pre_topk`` (ReLU(pre)).
READINGS = ("topk", "pre_topk")
SAES = ("conv", "latent")


@dataclass
class EvalOutputs:
    mu: torch.Tensor  # (N, L) VAE means
    a_conv: torch.Tensor  # (N, m_conv) conv-SAE ã
    a_lat: torch.Tensor  # (N, m_lat) latent-SAE ã (input μ)
    mse: float
    a_conv_pre: torch.Tensor | None = None  # (N, m_conv) ReLU(pre), the pre-Top-k reading
    a_lat_pre: torch.Tensor | None = None


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
    mus, convs, lats, convs_pre, lats_pre = [], [], [], [], []
    sq_err = torch.zeros((), dtype=torch.float64, device=images_u8.device)
    for start in range(0, images_u8.shape[0], batch_size):
        x = images_u8[start : start + batch_size].float().div_(255.0)
        h, mu, _, _, logits = model.vae(x, sample=False)
        mus.append(mu)
        if with_sae:
            for name, sae, inp, k_, post, pre in (("conv", model.conv_sae, h, k, convs, convs_pre),
                                                  ("latent", model.latent_sae, mu, k_latent, lats, lats_pre)):  # fmt: skip
                p = sae.pre(inp)
                post.append(activate(p, k_, sae=name, training=False))
                pre.append(torch.relu(p))
        sq_err += squared_error_sum(torch.sigmoid(logits), x)
    n_pix = images_u8.numel()
    empty = torch.empty(images_u8.shape[0], 0, device=images_u8.device)
    return EvalOutputs(
        mu=torch.cat(mus),
        a_conv=torch.cat(convs) if convs else empty,
        a_lat=torch.cat(lats) if lats else empty,
        mse=float(sq_err.item() / n_pix),
        a_conv_pre=torch.cat(convs_pre) if convs_pre else empty,
        a_lat_pre=torch.cat(lats_pre) if lats_pre else empty,
    )


def _reading(acts: torch.Tensor, factors: np.ndarray, n_bins: int, same_as: dict | None = None) -> dict:
    """Rates (M,), normalised MI (M, F) and mean active count of one activation matrix."""
    if same_as is not None:
        return same_as
    rates = np.asarray(activation_rate(acts), dtype=np.float64)
    return {
        "rates": rates,
        "mi": np.asarray(neuron_factor_mi(acts, factors, n_bins=n_bins), dtype=np.float64),
        "active": float(rates.sum()),  # = mean number of active neurons per sample
    }


def measure(out: EvalOutputs, factors: np.ndarray, *, n_bins: int) -> dict:
    """Raw measurements of one evaluation pass: ``mig``, ``mse``, ``latent_mi`` (VAE means x factors) and, when the
    SAEs ran, ``{sae: {reading: {"rates", "mi", "active"}}}`` for sae in :data:`SAES` and reading in :data:`READINGS`.
    """
    mig_result = mig(out.mu.float().cpu().numpy(), factors, n_bins=n_bins)
    result = {"mig": float(mig_result.score), "mse": out.mse, "latent_mi": mig_result.latent_mi}
    if out.a_conv.shape[1]:
        for name, post, pre in (("conv", out.a_conv, out.a_conv_pre), ("latent", out.a_lat, out.a_lat_pre)):
            topk = _reading(post, factors, n_bins)
            same = pre is None or torch.equal(pre, post)
            result[name] = {"topk": topk, "pre_topk": _reading(pre if pre is not None else post, factors, n_bins,
                                                               same_as=topk if same else None)}  # fmt: skip
    return result
