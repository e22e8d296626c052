"""The dead-rate floor (vaesae.metrics.dead_floor) against a slow, obvious construction: it is never beaten by a
rate vector with that budget and is attained by one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vaesae.metrics import dead_pct
from vaesae.metrics.dead_floor import dead_floor_pct, dead_floor_text


def test_the_papers_k_end_floor():
    assert dead_floor_pct(50, 8192, 0.01) == pytest.approx(100 * (8192 - 5000) / 8192)  # 39.0 %
    assert dead_floor_pct(50, 8192, 0.001) == 0.0 and dead_floor_pct(500, 8192, 0.01) == 0.0
    assert dead_floor_pct(50, 8192, 0.0) == 0.0
    assert "at least 39.0 % dead" in dead_floor_text(50, 8192, 0.01)
    with pytest.raises(ValueError, match="n_neurons"):
        dead_floor_pct(1, 0, 0.1)


def _attaining(budget: float, m: int, tau: float) -> np.ndarray:
    """⌊B/τ⌋ neurons at rate τ, the rest of the budget on one more neuron (below τ), the others at 0."""
    rates = np.zeros(m)
    alive = min(m, math.floor(budget / tau + 1e-12))
    rates[:alive] = tau
    rest = budget - alive * tau
    if alive < m and rest > 0:
        rates[alive] = rest
    else:
        rates[:alive] += rest / max(alive, 1)
    return rates


@pytest.mark.parametrize("seed", range(40))
def test_no_rate_vector_beats_the_floor_and_one_attains_it(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(5, 200))
    tau = float(rng.choice([0.001, 0.01, 0.05, 0.1, 0.3]))
    budget = float(rng.uniform(0, m * 0.4))
    floor = dead_floor_pct(budget, m, tau)
    for _ in range(20):  # random rates with the same budget, each in [0, 1]
        w = rng.exponential(size=m) * (rng.random(m) < rng.uniform(0.05, 1))
        if w.sum() == 0:
            continue
        rates = w / w.sum() * budget
        if rates.max() > 1:
            continue
        assert dead_pct(rates, tau) >= floor - 1e-9
    rates = _attaining(budget, m, tau)
    assert rates.sum() == pytest.approx(budget)
    if rates.max() <= 1:
        assert dead_pct(rates, tau) == pytest.approx(floor)
