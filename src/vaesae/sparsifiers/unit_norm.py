"""Unit-norm decoder columns, as the references keep them (openai/sparse_autoencoder ``unit_norm_decoder_`` and
``unit_norm_decoder_grad_adjustment_``; dictionary_learning ``set_decoder_norm_to_unit_norm`` and
``remove_gradient_parallel_to_decoder_directions``). Shared by every method that normalises its decoders: AuxK
(always) and, behind their keys, BatchTopK and JumpReLU.

    begin        at the start of stage 3: d_i ← d_i / ‖d_i‖, W_e[i] ← ‖d_i‖ · W_e[i], b_e[i] ← ‖d_i‖ · b_e[i]
                 (pre_i and so ã_i scale by ‖d_i‖ > 0, ReLU and Top-k commute with it, and ã_i d_i is unchanged:
                 the reconstruction of every kept activation is what it was)
    before_step  after backward: d_i ← d_i / ‖d_i‖, then g_i ← g_i − (d_i · g_i) d_i (the gradient of each
                 column keeps only its part tangent to the unit sphere)

A tied SAE (``model.tied_sae``) has d_i = W_e[i]: ``begin`` cannot keep the reconstruction (scaling the one vector
scales encoder and decoder together), so it normalises W_e[i] and divides b_e[i] by the same norm (pre_i / ‖d_i‖:
which neurons fire is unchanged); ``before_step`` normalises the rows of W_e and removes the parallel part of their
gradient.
"""

from __future__ import annotations

import torch

#: Norms below this are not divided by (a zero column stays zero).
EPS = 1e-12


def saes(model) -> tuple:
    """The SAEs a sparsifier's decoder constraint applies to: the conv SAE and the latent SAE."""
    return model.conv_sae, model.latent_sae


def rescale_model(model) -> None:
    """``begin`` (:func:`rescale_to_unit_decoder`) for every SAE of ``model``."""
    for sae in saes(model):
        rescale_to_unit_decoder(sae)


def renormalise_model(model) -> None:
    """``before_step`` (:func:`renormalise_decoder`) for every SAE of ``model``."""
    for sae in saes(model):
        renormalise_decoder(sae)


@torch.no_grad()
def rescale_to_unit_decoder(sae) -> None:
    """``begin``: unit decoder columns, the encoder rows and biases rescaled to keep each ã_i d_i (untied)."""
    if sae.tied:
        norms = sae.W_e.norm(dim=1).clamp_min(EPS)
        sae.W_e.div_(norms[:, None])
        sae.b_e.div_(norms)
        return
    norms = sae.W_d.norm(dim=0).clamp_min(EPS)
    sae.W_d.div_(norms)
    sae.W_e.mul_(norms[:, None])
    sae.b_e.mul_(norms)


@torch.no_grad()
def renormalise_decoder(sae) -> None:
    """``before_step``: unit decoder columns, and no gradient component along them."""
    weight, dim = sae.decoder_parameter()  # untied: W_d (d, m), neurons along dim 1; tied: W_e (m, d), along 0
    feature = 1 - dim  # the dimension each neuron's decoder vector runs along
    weight.div_(weight.norm(dim=feature, keepdim=dim == 0).clamp_min(EPS))
    if weight.grad is not None:
        parallel = (weight * weight.grad).sum(feature, keepdim=dim == 0)
        weight.grad.sub_(parallel * weight)
