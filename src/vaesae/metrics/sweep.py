"""Threshold robustness sweep over the specialization and dead-neuron thresholds.

    specialization, t : value = #{i : max_j nMI[i, j] > t}          (``specialized_count``)
    dead, t           : value = 100 * #{i : rate_i < t} / M          (``dead_pct``)

The specialization count is non-increasing and the dead percentage non-decreasing in t.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .dead import dead_pct
from .specialization import specialized_count

__all__ = ["threshold_sweep"]


def threshold_sweep(
    mi: np.ndarray,
    rates: np.ndarray,
    specialization_thresholds: Iterable[float],
    dead_thresholds: Iterable[float],
) -> list[dict]:
    """Rows ``{"kind", "threshold", "value"}``: one per specialization threshold (a count), then one per dead
    threshold (a percentage), in the order given."""
    mi = np.asarray(mi, dtype=np.float64)
    rates = np.asarray(rates, dtype=np.float64)
    if mi.ndim != 2 or rates.ndim != 1 or mi.shape[0] != rates.shape[0]:
        raise ValueError(f"mi (M, F) and rates (M,) disagree: shapes {mi.shape} and {rates.shape}")
    rows = [
        {"kind": "specialization", "threshold": float(t), "value": specialized_count(mi, float(t))}
        for t in specialization_thresholds
    ]
    rows += [{"kind": "dead", "threshold": float(t), "value": dead_pct(rates, float(t))} for t in dead_thresholds]
    return rows
