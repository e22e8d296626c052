"""Sparse autoencoder with Top-k activation sparsity, eqs. (1)–(3) of the paper.

    x̄   = h − μ [− b_dec]                   the encoder's input                  (centred reading: − b_dec)
    pre = W_e x̄ + b_e + b_boost            W_e = Dᵀ ∈ R^{m×d}                  (pre-activations)
    a   = ReLU(pre)                                                              (1)
    ã   = a ⊙ 1_topk(|a|)                   keep the k largest activations       (2)
    ĥ   = W_d ã + μ [+ b_dec]               W_d = D ∈ R^{d×m}                   (3)

The module computes ``pre`` and ĥ; the nonlinearity and the selection (1)–(2) belong to the stage-3 method
(``vaesae.sparsifiers``), passed in as ``activate(pre, k)``; the default is :func:`relu_topk`, eqs. (1)–(2).
``k = None`` disables Top-k (the L1 method). ``b_boost`` is the non-trainable bias-boosting buffer
(``vaesae.train.revival``); it is zero unless bias boosting is on. ``μ`` (buffer ``b_pre``) is the running mean of
the input that centred methods subtract (``vaesae.train.centring``); it is zero otherwise, and since x − 0 = x and
y + 0 = y exactly in floating point, an uncentred SAE computes exactly the paper's (1)–(3). Since a ≥ 0 after the
ReLU, |a| = a.

The SAE bias (``model.sae_bias``, one of :data:`SAE_BIASES`), a reading of the paper's text (method-notes,
docs/DESIGN.md): ``none`` is eqs. (1)–(3) as printed, with no bias b_dec at all (no parameter is registered, so the
module is exactly the literal one); ``decoder`` adds a learned decoder bias b_dec to ĥ only, initialised to zero, as
a decoder written as ``nn.Linear`` has by default; ``centred`` subtracts b_dec before the encoder and adds it back
after the decoder, as Bricken et al. (2023, the paper's reference [6]) and the SAE libraries do (sparsify,
dictionary_learning, openai/sparse_autoencoder), b_dec learned and initialised from the data by stage 2
(``vaesae.train.stages.Init.prepare``: the mean of the SAE inputs over a batch of training images).

Tied or untied (``model.tied_sae``). Eqs. (1) and (3) tie the matrices, W_e = Dᵀ and W_d = D, but the paper's 68.6M
parameters need two of them. Untied (the default) keeps W_e and W_d as two parameters, tied only at initialisation
(W_d = W_eᵀ with unit columns). Tied keeps the one parameter W_e and decodes with W_eᵀ: ``W_d`` is then a read-only
view W_eᵀ (writing through it writes W_e), so code that reads ``sae.W_d`` works either way; code that writes the
decoder asks :attr:`SparseAutoencoder.tied` (revival, the unit-norm decoder of ``vaesae.sparsifiers.unit_norm``).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from vaesae import SAE_BIASES

#: ``activate(pre, k, sae=..., training=...) -> ã``: the nonlinearity and selection applied to the SAE
#: pre-activations; ``sae`` is "conv" or "latent", ``training`` tells a training batch from an evaluation pass.
Activation = Callable[..., torch.Tensor]


def topk_mask(a: torch.Tensor, k: int | None) -> torch.Tensor:
    """ã = a ⊙ 1_topk(a) along the last dimension; ``k`` ≥ width or ``None`` returns ``a`` unchanged."""
    if k is None or k >= a.shape[-1]:
        return a
    values, indices = torch.topk(a, k, dim=-1, sorted=False)
    return torch.zeros_like(a).scatter_(-1, indices, values)


def relu_topk(pre: torch.Tensor, k: int | None, **_) -> torch.Tensor:
    """ã = ReLU(pre) ⊙ 1_topk(ReLU(pre)): eqs. (1)–(2); ``k = None`` gives ReLU(pre)."""
    return topk_mask(torch.relu(pre), k)


class SparseAutoencoder(nn.Module):
    """d → m → d dictionary; plain tensors in and out. ``tied``: one matrix W_e, decoded with W_eᵀ; ``bias``: one of
    :data:`SAE_BIASES` (``none``: no b_dec parameter)."""

    def __init__(self, d: int, m: int, tied: bool = False, bias: str = "none"):
        super().__init__()
        if bias not in SAE_BIASES:
            raise ValueError(f"model.sae_bias must be one of {', '.join(SAE_BIASES)}, got {bias!r}")
        self.d, self.m, self.tied, self.bias = d, m, bool(tied), bias
        self.W_e = nn.Parameter(torch.empty(m, d))
        self.b_e = nn.Parameter(torch.zeros(m))
        if not self.tied:
            self.W_d = nn.Parameter(torch.empty(d, m))
        if bias != "none":
            self.b_dec = nn.Parameter(torch.zeros(d))
        self.register_buffer("b_boost", torch.zeros(m))
        self.register_buffer("b_pre", torch.zeros(d))
        bound = 1.0 / math.sqrt(d)
        nn.init.uniform_(self.W_e, -bound, bound)
        if not self.tied:
            with torch.no_grad():  # tied initialisation D = W_eᵀ, columns normalised
                self.W_d.copy_(self.W_e.t() / self.W_e.norm(dim=1).clamp_min(1e-8))

    @property
    def W_d(self) -> torch.Tensor:
        """D (d, m): the decoder parameter, or, tied, the view W_eᵀ of the encoder parameter."""
        if self.tied:
            return self.W_e.t()
        try:
            return self._parameters["W_d"]
        except KeyError:  # not registered yet (during __init__): an AttributeError, so hasattr() is False
            raise AttributeError("W_d") from None

    def decoder_parameter(self) -> tuple[nn.Parameter, int]:
        """(the parameter that holds the decoder, the dimension along which it indexes neurons): (W_d, 1) untied,
        (W_e, 0) tied (neuron i's decoder column is row i of W_e)."""
        return (self.W_e, 0) if self.tied else (self._parameters["W_d"], 1)

    def encoder_input(self, h: torch.Tensor) -> torch.Tensor:
        """x̄ = h − μ, and − b_dec under the centred reading: what W_e multiplies, (B, d)."""
        x = h - self.b_pre
        return x - self.b_dec if self.bias == "centred" else x

    def pre_of_input(self, x: torch.Tensor) -> torch.Tensor:
        """W_e x + b_e + b_boost, (B, m), for an encoder input x (:meth:`encoder_input`, or a centred h)."""
        return torch.addmm(self.b_e + self.b_boost, x, self.W_e.t())

    def pre(self, h: torch.Tensor) -> torch.Tensor:
        """Pre-activations W_e x̄ + b_e + b_boost, (B, m)."""
        return self.pre_of_input(self.encoder_input(h))

    def encode(self, h: torch.Tensor, k: int | None, activate: Activation = relu_topk) -> torch.Tensor:
        """ã (B, m) = activate(pre(h), k); the default is eqs. (1)–(2)."""
        return activate(self.pre(h), k)

    def decode(self, a: torch.Tensor) -> torch.Tensor:
        """ĥ (B, d) = W_d ã + μ (+ b_dec under the decoder and centred readings): eq. (3)."""
        out = a @ self.W_d.t() + self.b_pre
        return out if self.bias == "none" else out + self.b_dec

    def forward(
        self, h: torch.Tensor, k: int | None, activate: Activation = relu_topk
    ) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.encode(h, k, activate)
        return a, self.decode(a)
