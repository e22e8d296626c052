"""Dead neurons: the fraction of samples on which a neuron fires, and the share of neurons that (almost) never do.

rate_i   = #{n : a[n, i] > 0} / N                 (activations after Top-k / ReLU)
dead_pct = 100 * #{i : rate_i < threshold} / M
"""

from __future__ import annotations

import numpy as np

__all__ = ["activation_rate", "dead_pct"]


def activation_rate(acts) -> np.ndarray:
    """Fraction of samples with activation > 0 for each neuron of ``acts`` (N, M) -> float64 (M,).

    ``acts``: numpy array, torch tensor (counted on its device) or scipy.sparse matrix.
    """
    shape = getattr(acts, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(f"acts must be 2-D (N, M), got shape {shape}")
    n, m = shape
    if n == 0:
        raise ValueError("activation_rate needs at least one sample")
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None and isinstance(acts, torch.Tensor):
        if acts.layout != torch.strided:
            acts = acts.to_dense()
        counts = (acts > 0).sum(dim=0).cpu().numpy()
        return counts.astype(np.float64) / n
    import scipy.sparse

    if scipy.sparse.issparse(acts):
        coo = scipy.sparse.coo_matrix(acts)
        if not coo.has_canonical_format:
            coo = coo.copy()
            coo.sum_duplicates()
        counts = np.bincount(coo.col[coo.data > 0], minlength=m)
        return counts.astype(np.float64) / n
    acts = np.asarray(acts)
    return np.count_nonzero(acts > 0, axis=0).astype(np.float64) / n


def dead_pct(rates, threshold: float) -> float:
    """Percentage of neurons whose activation rate is strictly below ``threshold``."""
    rates = np.asarray(rates, dtype=np.float64)
    if rates.ndim != 1 or rates.size == 0:
        raise ValueError(f"rates must be a non-empty 1-D array, got shape {rates.shape}")
    return float(100.0 * np.count_nonzero(rates < threshold) / rates.size)
