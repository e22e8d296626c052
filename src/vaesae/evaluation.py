"""Forward the fixed evaluation set through a model and measure it.

Used both for the per-epoch monitor (``history.csv``) and for the final evaluation files. Everything stays on the
model's device; only the scalar results and the (N, L) VAE means come back to the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vaesae.metrics import activation_rate, dead_pct, mig, neuron_factor_mi, specialized_count


@dataclass
class EvalOutputs:
    mu: torch.Tensor  # (N, L) VAE means
    a_conv: torch.Tensor  # (N, m_conv) conv-SAE ã
    a_lat: torch.Tensor  # (N, m_lat) latent-SAE ã (input μ)
    mse: float


@torch.no_grad()
def forward_eval(model, images_u8: torch.Tensor, k, k_latent, batch_size: int, with_sae: bool = True) -> EvalOutputs:
    """Run the evaluation images (uint8, (N, C, 64, 64), on the model's device) through the model, no sampling.

    ``with_sae=False`` (VAE pretraining, before the SAEs are trained) skips the SAEs: empty activations."""
    mus, convs, lats = [], [], []
    sq_err = torch.zeros((), dtype=torch.float64, device=images_u8.device)
    for start in range(0, images_u8.shape[0], batch_size):
        x = images_u8[start : start + batch_size].float().div_(255.0)
        h, mu, _, _, logits = model.vae(x, sample=False)
        mus.append(mu)
        if with_sae:
            convs.append(model.conv_sae.encode(h, k))
            lats.append(model.latent_sae.encode(mu, k_latent))
        sq_err += (torch.sigmoid(logits) - x).pow(2).sum(dtype=torch.float64)
    n_pix = images_u8.numel()
    empty = torch.empty(images_u8.shape[0], 0, device=images_u8.device)
    return EvalOutputs(
        mu=torch.cat(mus),
        a_conv=torch.cat(convs) if convs else empty,
        a_lat=torch.cat(lats) if lats else empty,
        mse=float(sq_err.item() / n_pix),
    )


def measure(out: EvalOutputs, factors: np.ndarray, eval_cfg: dict) -> dict:
    """Scalar metrics of one evaluation pass, plus the matrices the evaluation file stores."""
    n_bins = eval_cfg["n_bins"]
    mig_result = mig(out.mu.float().cpu().numpy(), factors, n_bins=n_bins)
    result = {"mig": float(mig_result.score), "mse": out.mse, "latent_mi": mig_result.latent_mi}
    if out.a_conv.shape[1]:
        for name, acts in (("conv", out.a_conv), ("latent", out.a_lat)):
            rates = np.asarray(activation_rate(acts), dtype=np.float64)
            mi = np.asarray(neuron_factor_mi(acts, factors, n_bins=n_bins), dtype=np.float64)
            prefix = "" if name == "conv" else "latent_"
            result[f"{prefix}dead_pct"] = float(dead_pct(rates, eval_cfg["dead_threshold"]))
            result[f"{prefix}specialized"] = int(specialized_count(mi, eval_cfg["specialization_threshold"]))
            result[f"{name}_rates"] = rates
            result[f"{name}_mi"] = mi
    return result
