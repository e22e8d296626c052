"""Reconstruction error per pixel.

MSE = mean_{n, pixels, channels} (x - x_hat)^2      with x and x_hat = sigmoid(decoder logits) both in [0, 1]
"""

from __future__ import annotations

import numpy as np

__all__ = ["pixel_mse"]


def _to_numpy(x) -> np.ndarray:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().to(torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def pixel_mse(x01, recon01) -> float:
    """Mean squared error over every pixel (and channel) of two same-shaped arrays/tensors in [0, 1] (float64 sum)."""
    x = _to_numpy(x01)
    r = _to_numpy(recon01)
    if x.shape != r.shape:
        raise ValueError(f"shape mismatch: input {x.shape} vs reconstruction {r.shape}")
    if x.size == 0:
        raise ValueError("pixel_mse of an empty array")
    return float(np.mean(np.square(x - r)))
