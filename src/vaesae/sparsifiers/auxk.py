"""Top-k with the AuxK auxiliary loss (Gao et al. 2024, "Scaling and evaluating sparse autoencoders";
openai/sparse_autoencoder ``train.py``), on the Top-k arm's k(t), λ and revival.

    ã          = ReLU(pre) ⊙ 1_topk(t)(ReLU(pre))            as ``topk`` (k(t), k_lat(t) of ``vaesae.sparsifiers.topk``)
    fired_i    ⇔ ã_i > 10⁻³ in some sample of the batch      (the reference's firing test)
    s_i        = training samples since neuron i last fired  (reset to 0 when it fires, else + B per batch)
    dead_i     ⇔ s_i > W · N                                 W = ``auxk_dead_epochs``, N = training samples per epoch
    â          = ReLU(TopK_{k_aux}(pre ⊙ dead))               the k_aux = ``auxk_k`` largest pre-activations of the dead
    e          = x − x̂ (detached),  ê = W_d â                 the residual and its reconstruction by the dead latents
    L_aux      = α · S · Σ_b ‖e_b − ê_b‖² / Σ_b ‖e_b − ē‖²   α = ``auxk_coeff`` (1/32); ē the batch mean of e
    S          = Σ_b ‖x_b − x̄‖² / B   (``loss.sae_reduction: sum``; / (B·d) for ``mean``), detached

The reference minimises a normalised MSE (its main loss is divided by the input variance) plus α times the normalised
AuxK MSE. The paper's SAE loss here is not normalised, so L_aux is multiplied by S, the same variance the reference
divides by: the ratio of the two terms is the reference's. L_aux = 0 while no latent is dead (the reference's term has
no gradient then). The same applies to both SAEs, each with its own counters.

Decoder columns are kept at unit norm, as in the reference: ``begin`` (the start of stage 3) rescales each column d_i
to unit norm and multiplies neuron i's encoder row and bias by ‖d_i‖ (the reconstruction of every kept activation is
unchanged), and ``before_step`` renormalises the columns and removes the gradient component parallel to each column
(``unit_norm_decoder_`` and ``unit_norm_decoder_grad_adjustment_``; ``vaesae.sparsifiers.unit_norm``, which
BatchTopK and JumpReLU share behind their ``*_unit_norm_decoder`` keys). The reference's fresh-SAE initialisation (W_e =
W_dᵀ, unit columns) is the shared stage-2 SAE's starting point here (paper eq. (1), W_e = Dᵀ), which every arm
starts stage 3 from.
"""

from __future__ import annotations

import torch

from vaesae.config.keys import AuxKKeys

from .base import SAES, SAEPass
from .scale import input_scale
from .topk import TopK
from .unit_norm import renormalise_model, rescale_model

#: The reference counts a latent as fired when its kept activation exceeds this value.
FIRE_THRESHOLD = 1e-3


def auxk_activations(pre: torch.Tensor, dead: torch.Tensor, k_aux: int) -> torch.Tensor:
    """â (B, m): ReLU of the ``k_aux`` largest entries of pre ⊙ dead in each row (zeros elsewhere)."""
    masked = pre * dead.to(pre.dtype)
    values, indices = torch.topk(masked, min(k_aux, pre.shape[-1]), dim=-1, sorted=False)
    return torch.zeros_like(pre).scatter_(-1, indices, torch.relu(values))


def normalized_mse(target: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Σ ‖target − estimate‖² / Σ ‖target − mean_b target‖²."""
    return (target - estimate).pow(2).sum() / (target - target.mean(0, keepdim=True)).pow(2).sum().clamp_min(1e-12)


class TopKAuxK(TopK):
    Keys = AuxKKeys

    def __init__(self, keys: AuxKKeys, conv_neurons: int, latent_neurons: int):
        super().__init__(keys, conv_neurons, latent_neurons)
        self.k_aux = int(keys.auxk_k)
        self.coeff = float(keys.auxk_coeff)
        self.dead_epochs = float(keys.auxk_dead_epochs)
        self.since = {"conv": torch.zeros(conv_neurons, dtype=torch.float64),
                      "latent": torch.zeros(latent_neurons, dtype=torch.float64)}  # fmt: skip
        self.samples_per_epoch = 0
        self.reduction = "sum"
        self._decoders: dict[str, torch.nn.Parameter] = {}

    def to(self, device):
        self.since = {name: t.to(device) for name, t in self.since.items()}
        return self

    def attach(self, model, sae_reduction="sum"):
        self.reduction = sae_reduction
        self._decoders = {"conv": model.conv_sae, "latent": model.latent_sae}

    def begin(self, model):
        rescale_model(model)

    def begin_epoch(self, sparsity, samples):
        self.samples_per_epoch = int(samples)

    def dead(self, sae: str) -> torch.Tensor:
        """Bool (m,): not fired within the window of ``auxk_dead_epochs`` epochs of training samples."""
        return self.since[sae] > self.dead_epochs * self.samples_per_epoch

    def observe(self, conv: SAEPass, latent: SAEPass) -> None:
        for name, p in (("conv", conv), ("latent", latent)):
            fired = (p.a > FIRE_THRESHOLD).any(0)
            self.since[name].add_(p.a.shape[0]).masked_fill_(fired, 0.0)  # in place: a CUDA graph replays this

    def aux_loss(self, conv: SAEPass, latent: SAEPass) -> dict[str, torch.Tensor]:
        total = conv.x.new_zeros(())
        for name, p in (("conv", conv), ("latent", latent)):
            dead = self.dead(name)
            a_aux = auxk_activations(p.pre, dead, self.k_aux)
            e = (p.x - p.x_hat).detach()
            e_hat = a_aux @ self._decoders[name].W_d.t()
            term = self.coeff * input_scale(p.x, self.reduction) * normalized_mse(e, e_hat)
            total = total + torch.where(dead.any(), term, torch.zeros_like(term))
        return {"loss_auxk": total}

    def before_step(self, model) -> None:
        renormalise_model(model)

    def state_dict(self) -> dict:
        return {"since_conv": self.since["conv"].cpu(), "since_latent": self.since["latent"].cpu(),
                "samples_per_epoch": self.samples_per_epoch}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        for name in SAES:
            self.since[name].copy_(state[f"since_{name}"])
        self.samples_per_epoch = int(state["samples_per_epoch"])
