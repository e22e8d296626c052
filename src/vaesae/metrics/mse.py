"""Reconstruction error per pixel.

    SSE = Σ_{n, pixels, channels} (x̂ − x)²          accumulated in float64
    MSE = SSE / (number of values)                  x and x̂ = sigmoid(decoder logits) both in [0, 1]

:func:`squared_error_sum` is the one definition: on torch tensors it stays on their device and returns a 0-d float64
tensor (no host sync), so the evaluation pass accumulates it batch by batch; on numpy arrays it returns a float64
scalar. The difference and its square are taken in the inputs' floating dtype (integer inputs: float64), the sum
in float64.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pixel_mse", "squared_error_sum"]


def _is_tensor(x) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(x, torch.Tensor)


def _check_shapes(recon, x) -> None:
    if tuple(recon.shape) != tuple(x.shape):
        raise ValueError(f"shape mismatch: reconstruction {tuple(recon.shape)} vs input {tuple(x.shape)}")


def squared_error_sum(recon, x):
    """Σ (recon − x)² over every element of two same-shaped tensors (0-d float64 tensor) or arrays (np.float64)."""
    if _is_tensor(recon) or _is_tensor(x):
        import torch

        device = recon.device if _is_tensor(recon) else x.device
        recon, x = torch.as_tensor(recon, device=device), torch.as_tensor(x, device=device)
        _check_shapes(recon, x)
        if not (recon.is_floating_point() and x.is_floating_point()):
            recon, x = recon.double(), x.double()
        return (recon - x).pow(2).sum(dtype=torch.float64)
    recon, x = np.asarray(recon), np.asarray(x)
    _check_shapes(recon, x)
    if not (np.issubdtype(recon.dtype, np.floating) and np.issubdtype(x.dtype, np.floating)):
        recon, x = recon.astype(np.float64), x.astype(np.float64)
    return np.square(recon - x).sum(dtype=np.float64)


def pixel_mse(x01, recon01) -> float:
    """Mean squared error over every pixel (and channel) of two same-shaped arrays/tensors in [0, 1]:
    :func:`squared_error_sum` over the number of values."""
    if not _is_tensor(x01):
        x01 = np.asarray(x01)
    if not _is_tensor(recon01):
        recon01 = np.asarray(recon01)
    if tuple(x01.shape) != tuple(recon01.shape):
        raise ValueError(f"shape mismatch: input {tuple(x01.shape)} vs reconstruction {tuple(recon01.shape)}")
    n = int(np.prod(x01.shape))
    if n == 0:
        raise ValueError("pixel_mse of an empty array")
    return float(squared_error_sum(recon01, x01)) / n
