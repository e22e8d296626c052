"""Stage-3 sparsification methods behind one interface (:class:`base.Sparsifier`), one module per method.

The methods table (``vaesae.methods``) names each method's class as ``"module:Class"``; :func:`build` makes one for
a run and :func:`for_checkpoint` remakes the one a checkpoint was trained with. This package does not import the
method modules itself, so a method's runs depend on its own module only.
"""

from __future__ import annotations

import torch

from vaesae import methods as method_table
from vaesae.train.config import ModelConfig, SparsifyConfig

from .base import Fixed, SAEPass, Sparsifier, Sparsity

__all__ = ["Fixed", "SAEPass", "Sparsifier", "Sparsity", "build", "for_checkpoint"]


def build(method: str, cfg: SparsifyConfig, model: ModelConfig, device: torch.device | str = "cpu") -> Sparsifier:
    """The sparsifier of ``method`` for a run with the ``sparsify`` keys ``cfg``, its tensors on ``device``."""
    cls = method_table.sparsifier_class(method)
    return cls(cfg, model.conv_sae_neurons, model.latent_sae_neurons).to(device)


def for_checkpoint(ckpt: dict, model: ModelConfig, device: torch.device | str = "cpu") -> Sparsifier:
    """The sparsifier a stage-2/3/extend checkpoint was trained with, its state restored.

    Stage 2 (``init``) is Top-k at the stored k; a stage-3 or extend checkpoint stores its method, the method's
    ``sparsify`` keys (``"sparsify"``) and the sparsifier's state (``"sparsifier"``).
    """
    if ckpt["stage"] == "init":
        k = None if ckpt["k"] < 0 else int(ckpt["k"])
        k_lat = None if ckpt["k_latent"] < 0 else int(ckpt["k_latent"])
        return Fixed(Sparsity(k, k_lat, None))
    for key in ("method", "sparsify", "sparsifier"):
        if key not in ckpt:
            raise KeyError(f"{ckpt['stage']} checkpoint has no {key!r} entry (written by an older version?)")
    sparsifier = build(ckpt["method"], SparsifyConfig.from_params(ckpt["sparsify"]), model, device)
    sparsifier.load_state_dict(ckpt["sparsifier"])
    return sparsifier
