"""Forward the fixed evaluation set through a model and take its raw measurements.

Used both for the per-epoch monitor (``history.csv`` and ``history.h5``) and for the final evaluation files.
Everything stays on the model's device; only the results and the (N, L) VAE means come back to the host. The SAE
activations are read twice:

    ã  = activate(pre, k)   the phase's sparsifier at evaluation (default ReLU then Top-k): what the SAE decodes from
    a  = ReLU(pre)          the pre-Top-k reading (equal to ã for the L1 method)

and for each reading the per-neuron activation rates, the neuron x factor normalised MI matrix and the mean number
of active neurons per sample are measured. No threshold is applied here: dead and specialized counts are reporting
choices, computed downstream from these raw measurements (``vaesae.summary``).

Alongside, the scalars of :data:`DIAGNOSTICS`, which tell where a neuron's death comes from (the input's scale, the
decoder's, the code's), all in float64 on the device:

    h_norm_mean, h_norm_std          mean and std (ddof 0) over the evaluation images of ‖h_flat‖₂, the conv SAE's input
    dec_norm_min, _median, _max      of the conv SAE's decoder column norms ‖W_d[:, i]‖₂ (numpy's median), as the
                                     network is at the evaluation
    a_l1                             mean over the evaluation images of ‖ã‖₁ of the conv SAE
    {conv,latent}_input_mean_norm,   the geometry of each SAE's input over the evaluation images (h_flat for the conv
    _std_norm, _gamma                SAE, the VAE means μ for the latent SAE; ``vaesae.metrics.geometry``):
                                     ‖mean‖₂, ‖std‖₂ of the per-dimension mean and std, and γ = their ratio

Without the SAEs (stage 1) the decoder and ã columns are NaN; ‖h‖ and the input geometry are measured in every stage.
With the SAEs, each SAE is also run on its centred input, x − mean_n x[n] over the evaluation images, fed to the
encoder in place of its own input x̄ (``SparseAutoencoder.pre_of_input``) with the same activation: the per-neuron
rates of that pass (``{sae: {"centred": {"rates"}}}``) tell how many neurons would be dead if the input were centred.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vaesae.metrics import activation_rate, input_geometry, mig, neuron_factor_mi
from vaesae.metrics.mse import squared_error_sum
from vaesae.models.sae import Activation, relu_topk

#: The two readings of the SAE activations: ``topk`` (ã, after the sparsifier) and ``pre_topk`` (ReLU(pre)).
READINGS = ("topk", "pre_topk")
SAES = ("conv", "latent")
#: The geometry scalars of each SAE's input (``vaesae.metrics.geometry``), ``{sae}_input_{field}``.
GEOMETRY = tuple(f"{sae}_input_{field}" for sae in SAES for field in ("mean_norm", "std_norm", "gamma"))
#: The per-evaluation diagnostic scalars (``measure``'s keys; columns of history.csv, docs/FORMATS.md).
DIAGNOSTICS = ("h_norm_mean", "h_norm_std", "dec_norm_min", "dec_norm_median", "dec_norm_max", "a_l1", *GEOMETRY)


@dataclass
class EvalOutputs:
    mu: torch.Tensor  # (N, L) VAE means
    a_conv: torch.Tensor  # (N, m_conv) conv-SAE ã
    a_lat: torch.Tensor  # (N, m_lat) latent-SAE ã (input μ)
    mse: float
    a_conv_pre: torch.Tensor | None = None  # (N, m_conv) ReLU(pre), the pre-Top-k reading
    a_lat_pre: torch.Tensor | None = None
    h_norm: torch.Tensor | None = None  # (N,) float64 ‖h_flat‖₂ per image
    a_conv_l1: torch.Tensor | None = None  # (N,) float64 ‖ã‖₁ of the conv SAE per image (None without the SAEs)
    dec_norm: torch.Tensor | None = None  # (m_conv,) float64 ‖W_d[:, i]‖₂ of the conv SAE (None without the SAEs)
    geometry: dict | None = None  # {sae: InputGeometry} of each SAE's input over the evaluation images
    rate_centred: dict | None = None  # {sae: (m,) float64 rates of the SAE run on its centred input} (with the SAEs)


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
    mus, convs, lats, convs_pre, lats_pre, h_norms, l1s, hs = [], [], [], [], [], [], [], []
    sq_err = torch.zeros((), dtype=torch.float64, device=images_u8.device)
    for start in range(0, images_u8.shape[0], batch_size):
        x = images_u8[start : start + batch_size].float().div_(255.0)
        h, mu, _, _, logits = model.vae(x, sample=False)
        mus.append(mu)
        hs.append(h)
        h_norms.append(torch.linalg.vector_norm(h.double(), dim=1))
        if with_sae:
            for name, sae, inp, k_, post, pre in (("conv", model.conv_sae, h, k, convs, convs_pre),
                                                  ("latent", model.latent_sae, mu, k_latent, lats, lats_pre)):  # fmt: skip
                p = sae.pre(inp)
                post.append(activate(p, k_, sae=name, training=False))
                pre.append(torch.relu(p))
            l1s.append(convs[-1].abs().sum(1, dtype=torch.float64))
        sq_err += squared_error_sum(torch.sigmoid(logits), x)
    n_pix = images_u8.numel()
    empty = torch.empty(images_u8.shape[0], 0, device=images_u8.device)
    inputs = {"conv": torch.cat(hs), "latent": torch.cat(mus)}
    rate_centred = None
    if with_sae:
        rate_centred = {name: _centred_rates(sae, inputs[name], k_, batch_size, activate, name)
                        for name, sae, k_ in (("conv", model.conv_sae, k), ("latent", model.latent_sae, k_latent))}  # fmt: skip
    return EvalOutputs(
        mu=inputs["latent"],
        a_conv=torch.cat(convs) if convs else empty,
        a_lat=torch.cat(lats) if lats else empty,
        mse=float(sq_err.item() / n_pix),
        a_conv_pre=torch.cat(convs_pre) if convs_pre else empty,
        a_lat_pre=torch.cat(lats_pre) if lats_pre else empty,
        h_norm=torch.cat(h_norms),
        a_conv_l1=torch.cat(l1s) if l1s else None,
        dec_norm=torch.linalg.vector_norm(model.conv_sae.W_d.detach().double(), dim=0) if with_sae else None,
        geometry={name: input_geometry(x) for name, x in inputs.items()},
        rate_centred=rate_centred,
    )


def _centred_rates(sae, x: torch.Tensor, k, batch_size: int, activate: Activation, name: str) -> torch.Tensor:
    """Per-neuron rate of ã > 0 when the SAE's encoder gets x − mean_n x[n] (the input centred over the evaluation
    images) in place of its own input, (m,) float64 on x's device."""
    centred = x - x.double().mean(0).to(x.dtype)
    counts = torch.zeros(sae.m, dtype=torch.float64, device=x.device)
    for start in range(0, x.shape[0], batch_size):
        a = activate(sae.pre_of_input(centred[start : start + batch_size]), k, sae=name, training=False)
        counts += (a > 0).sum(0, dtype=torch.float64)
    return counts / x.shape[0]


def diagnostics(out: EvalOutputs) -> dict[str, float]:
    """The :data:`DIAGNOSTICS` of one evaluation pass (NaN where ``out`` lacks the measurement)."""
    nan = float("nan")
    result = dict.fromkeys(DIAGNOSTICS, nan)
    if out.h_norm is not None and out.h_norm.numel():
        mean, std = torch.stack([out.h_norm.mean(), out.h_norm.std(correction=0)]).tolist()
        result.update(h_norm_mean=mean, h_norm_std=std)
    if out.dec_norm is not None and out.dec_norm.numel():
        norms = out.dec_norm.cpu().numpy()
        result.update(dec_norm_min=float(norms.min()), dec_norm_median=float(np.median(norms)),
                      dec_norm_max=float(norms.max()))  # fmt: skip
    if out.a_conv_l1 is not None and out.a_conv_l1.numel():
        result["a_l1"] = float(out.a_conv_l1.mean().item())
    for sae, geometry in (out.geometry or {}).items():
        result.update({f"{sae}_input_{field}": value for field, value in geometry._asdict().items()})
    return result


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
    """Raw measurements of one evaluation pass: ``mig``, ``mse``, ``latent_mi`` (VAE means x factors), the
    :data:`DIAGNOSTICS` scalars and, when the SAEs ran, ``{sae: {reading: {"rates", "mi", "active"}}}`` for sae in
    :data:`SAES` and reading in :data:`READINGS`, plus ``{sae: {"centred": {"rates"}}}`` (the SAE on its centred
    input).
    """
    mig_result = mig(out.mu.float().cpu().numpy(), factors, n_bins=n_bins)
    result = {"mig": float(mig_result.score), "mse": out.mse, "latent_mi": mig_result.latent_mi, **diagnostics(out)}
    if out.a_conv.shape[1]:
        for name, post, pre in (("conv", out.a_conv, out.a_conv_pre), ("latent", out.a_lat, out.a_lat_pre)):
            topk = _reading(post, factors, n_bins)
            same = pre is None or torch.equal(pre, post)
            result[name] = {"topk": topk, "pre_topk": _reading(pre if pre is not None else post, factors, n_bins,
                                                               same_as=topk if same else None)}  # fmt: skip
            if out.rate_centred is not None:
                result[name]["centred"] = {"rates": out.rate_centred[name].cpu().numpy()}
    return result
