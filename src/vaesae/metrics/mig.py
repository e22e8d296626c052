"""Mutual Information Gap (Chen et al. 2018), as disentanglement_lib's ``mig.py`` computes it.

With z the encoder means (N, L), each latent discretized into ``n_bins`` equal-width bins over its own range
(``discretize``), v the factor classes (N, F), m[i, j] = I(z_i; v_j) in nats (``mutual_info_matrix``) and
H_j = H(v_j)::

    gap_j = (m_(1)j - m_(2)j) / H_j        m_(1)j >= m_(2)j the two largest entries of column j
    MIG   = mean_{j : H_j > 0} gap_j

disentanglement_lib divides by H_j for every factor; a single-valued factor (H_j = 0, e.g. the dSprites colour) would
give 0/0, so such factors are excluded here (their ``per_factor`` entry is NaN).  If no factor varies, MIG is undefined
and a ValueError is raised.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .discretize import discretize
from .mutual_info import check_paired, factor_entropy, mutual_info_matrix

__all__ = ["MigResult", "mig"]


class MigResult(NamedTuple):
    score: float  # mean gap over the factors with H > 0
    latent_mi: np.ndarray  # (L, F) MI in nats between discretized latent and factor
    entropy: np.ndarray  # (F,) factor entropies in nats
    per_factor: np.ndarray  # (F,) normalized gap per factor, NaN for single-valued factors


def mig(means: np.ndarray, factors: np.ndarray, n_bins: int = 20) -> MigResult:
    """MIG of ``means`` (N, L) with respect to integer ``factors`` (N, F); needs L >= 2."""
    means, factors = check_paired(means, factors, "means")
    if means.shape[1] < 2:
        raise ValueError(f"MIG needs at least 2 latent dimensions, got {means.shape[1]}")
    latent_mi = mutual_info_matrix(discretize(means, n_bins), factors)
    entropy = factor_entropy(factors)
    valid = entropy > 0
    if not valid.any():
        raise ValueError("MIG is undefined: every factor takes a single value (entropy 0)")
    top = -np.sort(-latent_mi, axis=0)  # descending per factor
    per_factor = np.full(entropy.shape, np.nan)
    per_factor[valid] = (top[0, valid] - top[1, valid]) / entropy[valid]
    return MigResult(float(per_factor[valid].mean()), latent_mi, entropy, per_factor)
