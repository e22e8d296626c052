"""The stage-3 sparsification method, as one object the training loop drives.

A sparsifier owns what differs between methods (paper §3.3):

    ã = activate(pre, k, sae, training)  pre = W_e (x − μ) + b_e + b_boost, the pre-activations of SAE ``sae``
                                         ("conv" or "latent"); ``training``: a training batch, else an evaluation
    (k, k_lat, λ) = sparsity(t)          for the 0-based stage-3 epoch t
    (k, k_lat, λ) = final()              where extended training continues
    L_aux = aux_loss(conv, latent)       extra named loss terms (none by default), added to the stage-3 loss

and hooks the training loop calls, all no-ops by default, in this order:

    attach(model, sae_reduction)         once, when a stage-3 or extended run is built
    begin(model)                         once, at the start of stage 3 (not of extended training), weights loaded
    param_groups()                       its own trainable tensors, as optimizer groups (e.g. JumpReLU's log θ)
    begin_epoch(sparsity, samples)       before each epoch: its sparsity and the training samples it will see
    observe(conv, latent)                each training step, after the forward pass, under no_grad
    aux_loss(conv, latent)               each training step, after ``observe``
    before_step(model)                   each training step, after backward, before clipping and the step
    end_epoch()                          after each epoch, before its evaluation

It may keep state that travels in checkpoints (``state_dict`` / ``load_state_dict``; none by default; tensors
that are optimizer parameters are restored in place). The SAE loss itself is shared:
L_SAE = ‖x − x̂‖² + λ · ‖ã‖₁ (``vaesae.train.losses.sae_loss``).

A method's sparsifier is built as ``cls(keys, conv_neurons, latent_neurons)`` from its typed ``sparsify`` keys
(an instance of ``cls.Keys``, a frozen dataclass of ``vaesae.config.keys`` that the method's row in
``vaesae.methods`` names too; ``epochs`` among them, the stage-3 epoch count) and the two SAE widths;
``vaesae.methods`` names its class. Tensors in and out are plain tensors.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, NamedTuple

import torch

from vaesae.models.sae import relu_topk


#: The two SAEs a sparsifier acts on, as ``activate(..., sae=...)`` names them.
SAES = ("conv", "latent")


class Sparsity(NamedTuple):
    """The sparsity of one epoch: conv-SAE k, latent-SAE k (``None``: no Top-k) and the L1 coefficient λ."""

    k: int | None
    k_latent: int | None
    l1: float | None


class SAEPass(NamedTuple):
    """One SAE's forward pass on a batch: input x (B, d), pre-activations (B, m), ã (B, m), reconstruction (B, d)."""

    x: torch.Tensor
    pre: torch.Tensor
    a: torch.Tensor
    x_hat: torch.Tensor


class Sparsifier(ABC):
    """Base of every stage-3 method; subclasses give :meth:`sparsity` and :meth:`final`, the rest has defaults.
    A method's class names its keys class as ``Keys`` (``vaesae.config.keys``)."""

    Keys: ClassVar[type]

    @abstractmethod
    def sparsity(self, epoch: int) -> Sparsity:
        """(k, k_lat, λ) of the 0-based stage-3 epoch ``epoch``."""

    @abstractmethod
    def final(self) -> Sparsity:
        """(k, k_lat, λ) that extended training holds for all its epochs."""

    def activate(self, pre: torch.Tensor, k: int | None, *, sae: str = "conv", training: bool = False) -> torch.Tensor:
        """ã = ReLU(pre) ⊙ 1_topk(ReLU(pre)) (k = None: ReLU(pre)); used in training and evaluation alike."""
        return relu_topk(pre, k)

    def to(self, device: torch.device | str) -> "Sparsifier":
        """Move the method's tensors to ``device``; nothing by default."""
        return self

    def attach(self, model, sae_reduction: str = "sum") -> None:
        """The model a stage-3 or extended run trains, and ``loss.sae_reduction``; nothing by default."""

    def begin(self, model) -> None:
        """At the start of stage 3, with the stage-2 weights loaded; nothing by default."""

    def param_groups(self) -> list[dict]:
        """The method's own trainable tensors as optimizer parameter groups; none by default."""
        return []

    def begin_epoch(self, sparsity: Sparsity, samples: int) -> None:
        """Before a training epoch at ``sparsity`` that will see ``samples`` training samples; nothing by default."""

    def observe(self, conv: SAEPass, latent: SAEPass) -> None:
        """After each training forward pass (no_grad): update running statistics; nothing by default."""

    def aux_loss(self, conv: SAEPass, latent: SAEPass) -> dict[str, torch.Tensor]:
        """Auxiliary loss terms {name: scalar}, added to the stage-3 loss; none by default."""
        return {}

    def before_step(self, model) -> None:
        """After backward, before gradient clipping and the optimizer step; nothing by default."""

    def end_epoch(self) -> None:
        """Called after each training epoch (before its evaluation); nothing by default."""

    def state_dict(self) -> dict:
        """State that travels in the stage-3/extend checkpoints and resume files; none by default."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, got {sorted(state)}")


class Fixed(Sparsifier):
    """A constant sparsity with the default activation: stage 2 (Top-k at k_start, shared by every method) and the
    evaluation of its checkpoint. sparsity(t) = final() = (k, k_lat, λ)."""

    def __init__(self, sparsity: Sparsity):
        self.value = Sparsity(*sparsity)

    def sparsity(self, epoch: int) -> Sparsity:
        return self.value

    def final(self) -> Sparsity:
        return self.value
