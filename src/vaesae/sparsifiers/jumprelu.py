"""JumpReLU (Rajamanoharan et al. 2024; dictionary_learning ``jumprelu.py``, SAELens ``jumprelu_sae.py``), with its
L0 target on the Top-k arm's k(t), so that its L0 follows Top-k's at every epoch.

    ã      = pre · H(pre − θ)                        θ = exp(log θ) > 0 per neuron, trainable
    L0     = mean_b Σ_i H(pre_bi − θ_i)
    L_l0   = c · S · (L0 / k(t) − 1)²                c = ``jumprelu_sparsity_coeff``; the latent SAE uses k_lat(t)
    S      = Σ_b ‖x_b − x̄‖² / B                      the input variance, detached (/ d under ``sae_reduction: mean``)

H is the Heaviside step. Its derivative with respect to θ is replaced by the straight-through rectangle estimator of
bandwidth ε = ``jumprelu_bandwidth``, K(u) = 1[|u| < ½]:

    ∂ã_bi/∂θ_i  ≈ −(θ_i / ε) · K((pre_bi − θ_i) / ε)       ∂ã_bi/∂pre_bi = H(pre_bi − θ_i)
    ∂H_bi/∂θ_i  ≈ −(1 / ε) · K((pre_bi − θ_i) / ε)         ∂H_bi/∂pre_bi = 0

Initial θ (``jumprelu_threshold_init``): a number is the reference's constant (0.01). ``quantile`` (the default here)
sets every θ_i on the first stage-3 training batch to the smallest of the k_start·B largest pre-activations of the
batch (floored at 10⁻⁶): the BatchTopK threshold, so that L0 = k_start when stage 3 starts and each θ_i is on the
scale of the pre-activations. Stage 3 starts from a trained stage-2 SAE, not a fresh
one, and the estimator moves θ_i only where pre-activations fall within ε/2 of it: from the constant init, neurons
that fire on every sample never receive a gradient, and L0 stays far above k(t) (measured on the quick preset).

S puts the penalty in the units of the SAE reconstruction loss, which is a per-sample sum over the d inputs here
(as for AuxK's term): the reconstruction's pull on θ (through ∂ã/∂θ) grows with d and the input scale, and with c
alone it outweighs the L0 target, so that L0 rises above k(t) instead of following it (measured on the quick preset).

k is not a selection here: ``activate`` ignores it, training and evaluation alike. The λ‖ã‖₁ term of the SAE loss
(``topk_l1_coeff``) stays, as in every k-based arm. log θ is an optimizer parameter group of its own with learning
rate ``jumprelu_lr`` and no weight decay: at the paper's learning rate (10⁻⁵) Adam moves log θ by at most ~0.6 over all
of stage 3, too little for L0 to follow k(t) from 500 to 50.

Two companions of the references, each behind a key and off by default (the run is then JumpReLU as before them):

- ``jumprelu_unit_norm_decoder: true``: unit-norm decoder columns, as dictionary_learning's JumpReLU trainer keeps
  them (``vaesae.sparsifiers.unit_norm``, AuxK's code): rescaled at the start of stage 3 keeping each kept
  activation's reconstruction, renormalised before every step with the gradient's parallel part removed.
- ``jumprelu_sparsity_warmup_fraction: f > 0``: c ramps linearly from 0 to ``jumprelu_sparsity_coeff`` over the
  first f of stage 3's training steps (dictionary_learning's ``sparsity_warmup_steps``),

      c(s) = c · min(1, s / (f · E · S))        s = training steps done before this one, E = stage-3 epochs,
                                                S = steps per epoch (counted in samples on the device)

  so the first step has c = 0 and every step from f · E · S on the full c. The count travels in the sparsifier's
  state, so resumed and extended runs continue it (extended training is past the warm-up: f ≤ 1).
"""

from __future__ import annotations

import math

import torch

from vaesae.config.keys import JumpReLUKeys

from .base import SAES, SAEPass, Sparsity
from .scale import input_scale
from .select import kth_largest
from .topk import TopK
from .unit_norm import renormalise_model, rescale_model


def rectangle(u: torch.Tensor) -> torch.Tensor:
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


class JumpReLUFunction(torch.autograd.Function):
    """pre · H(pre − θ), with the rectangle straight-through gradient for θ."""

    @staticmethod
    def forward(ctx, pre, theta, bandwidth):
        ctx.save_for_backward(pre, theta)
        ctx.bandwidth = bandwidth
        return pre * (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_pre = grad * (pre > theta).to(grad.dtype)
        grad_theta = (grad * (-(theta / eps) * rectangle((pre - theta) / eps))).sum(0)
        return grad_pre, grad_theta, None


class StepFunction(torch.autograd.Function):
    """H(pre − θ), with the rectangle straight-through gradient for θ and none for pre."""

    @staticmethod
    def forward(ctx, pre, theta, bandwidth):
        ctx.save_for_backward(pre, theta)
        ctx.bandwidth = bandwidth
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_theta = (grad * (-(1.0 / eps) * rectangle((pre - theta) / eps))).sum(0)
        return torch.zeros_like(pre), grad_theta, None


def jumprelu(pre: torch.Tensor, theta: torch.Tensor, bandwidth: float) -> torch.Tensor:
    return JumpReLUFunction.apply(pre, theta.to(pre.dtype), bandwidth)


def step(pre: torch.Tensor, theta: torch.Tensor, bandwidth: float) -> torch.Tensor:
    return StepFunction.apply(pre, theta.to(pre.dtype), bandwidth)


class JumpReLU(TopK):
    Keys = JumpReLUKeys

    def __init__(self, keys: JumpReLUKeys, conv_neurons: int, latent_neurons: int):
        super().__init__(keys, conv_neurons, latent_neurons)
        init = keys.jumprelu_threshold_init
        self.quantile_init = init == "quantile"
        if not self.quantile_init:
            init = float(init)
            if init <= 0:
                raise ValueError(f"sparsify.jumprelu_threshold_init must be 'quantile' or > 0, got {init}")
        else:
            init = 1.0
        self.pending = {n: self.quantile_init for n in SAES}  # θ still to be set from the first batch
        self.bandwidth = float(keys.jumprelu_bandwidth)
        self.coeff = float(keys.jumprelu_sparsity_coeff)
        self.lr = float(keys.jumprelu_lr)
        self.unit_norm_decoder = bool(keys.jumprelu_unit_norm_decoder)
        # not ``warmup_fraction``: that is TopK's, the k(t) warm-up this method follows too
        self.sparsity_warmup = float(keys.jumprelu_sparsity_warmup_fraction)
        if not 0.0 <= self.sparsity_warmup <= 1.0:
            raise ValueError(f"sparsify.jumprelu_sparsity_warmup_fraction must be in [0, 1], "
                             f"got {self.sparsity_warmup}")
        self.samples_per_epoch = 0
        # training samples seen since stage 3 began (the warm-up's clock; only with a warm-up)
        self.seen = torch.zeros((), dtype=torch.float64) if self.sparsity_warmup > 0 else None
        self.log_theta = {"conv": torch.full((conv_neurons,), math.log(init)),
                          "latent": torch.full((latent_neurons,), math.log(init))}  # fmt: skip
        for t in self.log_theta.values():
            t.requires_grad_(True)
        self.target = Sparsity(self.k_start, self._at(self.k_start).k_latent, None)
        self.reduction = "sum"

    def to(self, device):
        with torch.no_grad():
            self.log_theta = {n: t.detach().to(device).requires_grad_(True) for n, t in self.log_theta.items()}
        if self.seen is not None:
            self.seen = self.seen.to(device)
        return self

    def theta(self, sae: str) -> torch.Tensor:
        return self.log_theta[sae].exp()

    def param_groups(self):
        return [{"params": [self.log_theta[n] for n in SAES], "lr": self.lr, "weight_decay": 0.0}]

    def activate(self, pre, k, *, sae="conv", training=False):
        if training and self.pending[sae]:
            self._init_from(pre, sae)
        return jumprelu(pre, self.theta(sae).to(pre.device), self.bandwidth)

    @torch.no_grad()
    def _init_from(self, pre: torch.Tensor, sae: str) -> None:
        """Every θ_i = the smallest of the k_start·B largest pre-activations of this batch (floored at 10⁻⁶): the
        (k_start·B)-th largest of max(pre, 0), by radix select (``kth_largest``, no sort, no host sync). The floor
        makes the clamp at 0 immaterial: max(max(v, 0), 10⁻⁶) = max(v, 10⁻⁶), fewer than k_start·B positives too."""
        k = self.k_start if sae == "conv" else self._at(self.k_start).k_latent
        theta, _ = kth_largest(pre.detach().float(), min(k * pre.shape[0], pre.numel()))
        theta = theta.clamp_min(1e-6)
        self.log_theta[sae].fill_(0.0).add_(theta.log().to(self.log_theta[sae].device))
        self.pending[sae] = False

    def attach(self, model, sae_reduction="sum"):
        self.reduction = sae_reduction

    def begin(self, model):
        if self.unit_norm_decoder:
            rescale_model(model)

    def before_step(self, model) -> None:
        if self.unit_norm_decoder:
            renormalise_model(model)

    def begin_epoch(self, sparsity, samples):
        self.target = sparsity
        self.samples_per_epoch = int(samples)

    def coefficient(self, batch: int):
        """c of this step: ``jumprelu_sparsity_coeff``, or with a warm-up c · min(1, seen / (f · E · N)) as a 0-d
        tensor (N: training samples per epoch), the clock then advanced by ``batch`` samples (in place, no sync)."""
        if self.seen is None:
            return self.coeff
        span = max(self.sparsity_warmup * self.epochs * self.samples_per_epoch, 1.0)
        scale = (self.seen / span).clamp(max=1.0).float()
        self.seen.add_(batch)
        return self.coeff * scale

    def aux_loss(self, conv: SAEPass, latent: SAEPass) -> dict[str, torch.Tensor]:
        total = conv.x.new_zeros(())
        coeff = self.coeff if self.seen is None else self.coefficient(conv.x.shape[0])
        for name, p, k in (("conv", conv, self.target.k), ("latent", latent, self.target.k_latent)):
            l0 = step(p.pre, self.theta(name), self.bandwidth).sum(1).mean()
            total = total + coeff * input_scale(p.x, self.reduction) * (l0 / k - 1.0).pow(2)
        return {"loss_l0": total}

    def state_dict(self) -> dict:
        state = {f"log_theta_{n}": self.log_theta[n].detach().cpu().clone() for n in SAES}
        state.update({f"pending_{n}": bool(self.pending[n]) for n in SAES})
        if self.seen is not None:
            state["samples_seen"] = float(self.seen)
        return state

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():  # in place: the tensors are optimizer parameters
            for n in SAES:
                self.log_theta[n].copy_(state[f"log_theta_{n}"].to(self.log_theta[n].device))
                self.pending[n] = bool(state[f"pending_{n}"])
        if self.seen is not None:
            self.seen.fill_(float(state.get("samples_seen", 0.0)))
