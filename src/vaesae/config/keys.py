"""The ``sparsify`` keys of each stage-3 method: one frozen dataclass per method, declared once.

A method's row in the methods table (``vaesae.methods``, ``Method.keys_class``) and its sparsifier class (``Keys``)
name the same class here: its fields are the ``sparsify`` keys its runs read, so they are its rules' params
(``Method.keys``, the field names; editing any other ``sparsify`` key leaves its runs alone), the typed object its
sparsifier is built from, and the dict its checkpoints store. Every field is required: a run that lacks one stops
before it starts (``missing config key sparsify.<key>``). The values are as ``config.yaml`` gives them (the
sparsifier converts); the meaning of each key is in its sparsifier's module and in docs/CONFIGURATION.md.

Stage 2 (``init``, shared by every method) reads one ``sparsify`` key, ``k_start``: :class:`StartKeys`.
This module is imported by the Snakefile at parse time (through ``vaesae.methods``): it stays light.
"""

from __future__ import annotations

from dataclasses import dataclass

from vaesae.config.base import Section


@dataclass(frozen=True)
class SparsifyKeys(Section):
    """Base of the ``sparsify`` keys classes (the section's name)."""

    SECTION = "sparsify"


@dataclass(frozen=True)
class StartKeys(SparsifyKeys):
    """Stage 2: Top-k at ``k_start`` (``vaesae.train.stages.Init``)."""

    k_start: int


@dataclass(frozen=True)
class TopKKeys(SparsifyKeys):
    """``topk`` (``vaesae.sparsifiers.topk``): k(t) anneals from ``k_start`` to ``k_end`` over ``epochs`` after a
    warm-up and before a hold (fractions of ``epochs``), with ``topk_l1_coeff`` as λ. Shared by every k-based method
    (they follow the same k(t))."""

    epochs: int
    k_start: int
    k_end: int
    warmup_fraction: float
    hold_fraction: float
    topk_l1_coeff: float


@dataclass(frozen=True)
class L1Keys(SparsifyKeys):
    """``l1`` (``vaesae.sparsifiers.l1``): λ(t) rises linearly from ``l1_start`` to ``l1_end`` over ``epochs``."""

    epochs: int
    l1_start: float
    l1_end: float


@dataclass(frozen=True)
class AuxKKeys(TopKKeys):
    """``topk_auxk`` (``vaesae.sparsifiers.auxk``): Top-k's keys and the AuxK loss (k_aux, α, the dead window in
    epochs)."""

    auxk_k: int
    auxk_coeff: float
    auxk_dead_epochs: float


@dataclass(frozen=True)
class BatchTopKKeys(TopKKeys):
    """``batchtopk`` (``vaesae.sparsifiers.batchtopk``): Top-k's keys, the EMA rate of the inference threshold and
    the unit-norm decoder switch."""

    batchtopk_threshold_rate: float
    batchtopk_unit_norm_decoder: bool


@dataclass(frozen=True)
class JumpReLUKeys(TopKKeys):
    """``jumprelu`` (``vaesae.sparsifiers.jumprelu``): Top-k's keys (its L0 target follows k(t)) and JumpReLU's.

    ``jumprelu_threshold_init`` is the string ``"quantile"`` (θ set on the first stage-3 batch; config.yaml's
    default) or a number > 0 (the references' constant)."""

    jumprelu_threshold_init: float | str
    jumprelu_bandwidth: float
    jumprelu_sparsity_coeff: float
    jumprelu_lr: float
    jumprelu_unit_norm_decoder: bool
    jumprelu_sparsity_warmup_fraction: float


@dataclass(frozen=True)
class CentredTopKKeys(TopKKeys):
    """``topk_centred`` (``vaesae.sparsifiers.topk.CentredTopK``): Top-k's keys and the EMA rate of the running
    means subtracted from the SAE inputs (``vaesae.train.centring``)."""

    center_rate: float
