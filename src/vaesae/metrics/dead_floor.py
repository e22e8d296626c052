"""The least dead percentage an activation budget allows: what the dead metric forces, whatever training does.

With rate_i the fraction of the N samples on which neuron i fires (``dead.activation_rate``) and a neuron dead when
rate_i < τ (``dead.dead_pct``), the budget B = Σ_i rate_i is the mean number of active neurons per sample (B <= k
under Top-k). Every alive neuron spends at least τ of it, so at most ⌊B / τ⌋ of the M neurons are alive::

    dead_pct >= floor = 100 · max(0, M − ⌊B / τ⌋) / M            (τ > 0; τ <= 0: 0, nothing can be dead)

which is 100 · (1 − k / (M τ)) up to the rounding when B = k. It is attained: ⌊B / τ⌋ neurons at rate τ and the rest of
the budget on one more neuron below τ. Example (the paper's k_end): k = 50, M = 8,192, τ = 0.01 -> at most 5,000
alive, at least 39.0 % dead; at τ = 0.001 at most 50,000 alive, no floor. ``budget / τ`` gets a 1e-9 relative
allowance (rates are ratios of counts), so the floor never exceeds the exact one.
"""

from __future__ import annotations

import math

__all__ = ["dead_floor_pct", "dead_floor_text"]

_SLACK = 1e-9


def dead_floor_pct(budget: float, n_neurons: int, threshold: float) -> float:
    """100 · max(0, M − ⌊B / τ⌋) / M: the least dead % with budget B (mean active neurons per sample)."""
    if n_neurons < 1:
        raise ValueError(f"n_neurons must be >= 1, got {n_neurons}")
    if not budget >= 0:
        raise ValueError(f"budget must be a number >= 0, got {budget}")
    if threshold <= 0:
        return 0.0
    alive = math.floor(budget / threshold * (1 + _SLACK))
    return 100.0 * max(0, n_neurons - alive) / n_neurons


def dead_floor_text(budget: float, n_neurons: int, threshold: float) -> str:
    """The floor's arithmetic in one line."""
    floor = dead_floor_pct(budget, n_neurons, threshold)
    alive = math.floor(budget / threshold * (1 + _SLACK)) if threshold > 0 else n_neurons
    return (f"{budget:.4g} active per sample / τ {threshold:g} = at most {alive:,} alive of {n_neurons:,} -> at least "
            f"{floor:.1f} % dead")
