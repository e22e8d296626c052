"""The geometry of an SAE's input: how far its samples are from centred (Simon, Adams & Zou, ICML 2026).

    μ        = mean_n x[n]                       (d,) per-dimension mean over the samples
    σ        = std_n x[n]  (ddof 0)              (d,) per-dimension standard deviation
    γ        = ‖μ‖₂ / ‖σ‖₂                       0 for a centred input, large for one far from centred

A neuron's pre-activation is w·x + b = w·μ + w·(x − μ) + b: when γ is large the first term, the same for every
sample, dominates, so Top-k keeps choosing the same neurons and the rest never fire (the dead rate at
initialisation grows with γ). A constant input has σ = 0: γ = ∞ when μ ≠ 0; an all-zero input has γ = 0.
"""

from __future__ import annotations

import math
from typing import NamedTuple

__all__ = ["InputGeometry", "input_geometry"]


class InputGeometry(NamedTuple):
    mean_norm: float  # ‖μ‖₂
    std_norm: float  # ‖σ‖₂
    gamma: float  # ‖μ‖₂ / ‖σ‖₂ (∞ when σ = 0 and μ ≠ 0; 0 when μ = 0)


def input_geometry(x) -> InputGeometry:
    """:class:`InputGeometry` of the samples ``x`` (N, d): a numpy array or a torch tensor (reduced on its device in
    float64)."""
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 2 or shape[0] == 0:
        raise ValueError(f"x must be 2-D (N, d) with N >= 1, got shape {shape}")
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().double()
        mean = x.mean(0)
        std = x.std(0, correction=0)
        mean_norm, std_norm = torch.stack([torch.linalg.vector_norm(mean), torch.linalg.vector_norm(std)]).tolist()
    else:
        import numpy as np

        x = np.asarray(x, dtype=np.float64)
        mean_norm, std_norm = float(np.linalg.norm(x.mean(0))), float(np.linalg.norm(x.std(0)))
    if mean_norm == 0.0:
        gamma = 0.0
    elif std_norm == 0.0:
        gamma = math.inf
    else:
        gamma = mean_norm / std_norm
    return InputGeometry(float(mean_norm), float(std_norm), float(gamma))
