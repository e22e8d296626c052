"""Stage-3 sparsification methods behind one interface (:class:`base.Sparsifier`), one module per method.

The methods table (``vaesae.methods``) names each method's class as ``"module:Class"`` and its keys class
(``vaesae.config.keys``); :func:`build` makes one for a run from its typed keys and :func:`for_checkpoint` remakes
the one a checkpoint was trained with. This package does not import the method modules itself, so a method's runs
depend on its own module only.
"""

from __future__ import annotations

import torch

from vaesae import methods as method_table
from vaesae.config.base import Section
from vaesae.config.sections import ModelConfig

from .base import Fixed, SAEPass, Sparsifier, Sparsity

__all__ = ["Fixed", "SAEPass", "Sparsifier", "Sparsity", "build", "for_checkpoint"]


def build(method: str, keys: Section, model: ModelConfig, device: torch.device | str = "cpu") -> Sparsifier:
    """The sparsifier of ``method`` for a run with the typed ``sparsify`` keys ``keys`` (an instance of the
    method's ``keys_class``), its tensors on ``device``."""
    keys_class = method_table.get(method).keys_class
    if not isinstance(keys, keys_class):
        raise TypeError(f"method {method!r} is built from {keys_class.__name__}, got {type(keys).__name__}")
    cls = method_table.sparsifier_class(method)
    return cls(keys, model.conv_sae_neurons, model.latent_sae_neurons).to(device)


def for_checkpoint(ckpt: dict, model: ModelConfig, device: torch.device | str = "cpu") -> Sparsifier:
    """The sparsifier a stage-2/3/extend checkpoint was trained with, its state restored.

    Stage 2 (``init``) is Top-k at the stored k; a stage-3 or extend checkpoint stores its method, the method's
    ``sparsify`` keys as a plain dict (``"sparsify"``, typed again here as the method's keys class) and the
    sparsifier's state (``"sparsifier"``).
    """
    if ckpt["stage"] == "init":
        k = None if ckpt["k"] < 0 else int(ckpt["k"])
        k_lat = None if ckpt["k_latent"] < 0 else int(ckpt["k_latent"])
        return Fixed(Sparsity(k, k_lat, None))
    for key in ("method", "sparsify", "sparsifier"):
        if key not in ckpt:
            raise KeyError(f"{ckpt['stage']} checkpoint has no {key!r} entry (written by an older version?)")
    keys = method_table.stage_keys(ckpt["stage"], ckpt["method"]).from_params(ckpt["sparsify"])
    sparsifier = build(ckpt["method"], keys, model, device)
    sparsifier.load_state_dict(ckpt["sparsifier"])
    return sparsifier
