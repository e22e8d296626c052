"""The activation-budget bound on specialized neurons: hand-worked values, edge cases, soundness against the metric."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from vaesae.metrics.bound import (
    SpecializationBound,
    activity_entropy_bound,
    binary_entropy,
    min_firing_rate,
    smallest_factor_entropy,
    specialization_bound,
    specialized_bound,
)
from vaesae.metrics.dead import activation_rate
from vaesae.metrics.mutual_info import factor_entropy
from vaesae.metrics.specialization import neuron_factor_mi, specialized_count

LN3, LN4 = math.log(3), math.log(4)


def _g_slow(p: float, n_bins: int) -> float:
    """g(p) = h(p) + p ln B written out with math.log (independent of the module)."""
    h = 0.0
    for q in (p, 1.0 - p):
        if q > 0:
            h -= q * math.log(q)
    return h + p * math.log(n_bins)


def _root_by_bisection(t: float, n_bins: int) -> float:
    """The p in (0, B/(B+1)) with g(p) = t, by 200 plain bisection steps."""
    lo, hi = 0.0, n_bins / (n_bins + 1)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _g_slow(mid, n_bins) < t:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# ------------------------------------------------------------------------------------------------ hand-worked values


def test_binary_entropy_hand_values():
    assert binary_entropy(0.5) == pytest.approx(math.log(2), abs=1e-15)
    assert binary_entropy(0.0) == 0.0 and binary_entropy(1.0) == 0.0
    # h(1/4) = 1/4 ln 4 + 3/4 ln(4/3) = 0.3465736 + 0.2157616 = 0.5623351
    assert binary_entropy(0.25) == pytest.approx(0.25 * LN4 + 0.75 * math.log(4 / 3), abs=1e-15)
    assert binary_entropy(0.25) == pytest.approx(0.5623351446, abs=1e-10)
    p = np.array([[0.0, 0.1], [0.9, 1.0]])
    h = binary_entropy(p)
    assert h.shape == (2, 2)
    assert h[0, 1] == pytest.approx(h[1, 0], abs=1e-15)  # symmetric
    assert h[0, 0] == 0.0 and h[1, 1] == 0.0
    with pytest.raises(ValueError):
        binary_entropy(1.5)
    with pytest.raises(ValueError):
        binary_entropy(-0.1)


def test_activity_entropy_bound_hand_values():
    # g(0.5) with 20 bins = ln 2 + 0.5 ln 20 = 0.6931472 + 1.4978661 = 2.1910133
    assert activity_entropy_bound(0.5, 20) == pytest.approx(2.1910133, abs=1e-7)
    # g(0.1) = h(0.1) + 0.1 ln 20 = 0.3250830 + 0.2995732 = 0.6246562
    assert activity_entropy_bound(0.1, 20) == pytest.approx(0.6246562, abs=1e-7)
    assert activity_entropy_bound(0.0, 20) == 0.0
    assert activity_entropy_bound(1.0, 20) == pytest.approx(math.log(20), abs=1e-15)
    # maximum ln(B + 1) at p = B / (B + 1): the entropy of B + 1 equiprobable codes
    assert activity_entropy_bound(20 / 21, 20) == pytest.approx(math.log(21), abs=1e-14)
    grid = np.linspace(0, 1, 10_001)
    assert activity_entropy_bound(grid, 20).max() <= math.log(21) + 1e-14
    # one bin: g = h
    assert activity_entropy_bound(0.3, 1) == pytest.approx(binary_entropy(0.3), abs=1e-15)
    with pytest.raises(ValueError):
        activity_entropy_bound(0.5, 0)


@pytest.mark.parametrize("tau, h_min", [(0.5, LN3), (0.5, LN4), (0.2, LN3), (0.8, 2.0), (0.9, math.log(10))])
def test_min_firing_rate_matches_bisection_and_grid(tau, h_min):
    t = tau * h_min
    p_star = min_firing_rate(tau, h_min, 20)
    assert p_star == pytest.approx(_root_by_bisection(t, 20), abs=1e-12)
    # dense grid: the first grid point with g(p) > t lies just above p*, the one before it at or below
    grid = np.linspace(0.0, 20 / 21, 2_000_001)
    g = activity_entropy_bound(grid, 20)
    first = int(np.argmax(g > t))
    assert grid[first - 1] <= p_star + 1e-12 and p_star <= grid[first] + 1e-12
    assert _g_slow(p_star, 20) == pytest.approx(t, abs=1e-12)


def test_dsprites_and_shapes3d_bounds_at_tau_half_20_bins():
    # dSprites: smallest factor shape, 3 equiprobable classes, H_min = ln 3 = 1.0986123; tau * H_min = 0.5493061.
    # h(p) + p ln 20 = 0.5493061  ->  p* = 0.0857181314 (bisection above)
    #   k = 50:  50 / 0.0857181314 = 583.307  -> 583
    #   k = 500: 500 / 0.0857181314 = 5833.07 -> 5833
    p_ds = min_firing_rate(0.5, LN3, 20)
    assert p_ds == pytest.approx(0.0857181314, abs=1e-10)
    assert specialized_bound(50, 0.5, LN3, 20, 8192) == 583
    assert specialized_bound(500, 0.5, LN3, 20, 8192) == 5833
    # Shapes3D: smallest factor shape, 4 classes, H_min = ln 4; tau * H_min = ln 2 = 0.6931472.
    # h(p) + p ln 20 = 0.6931472  ->  p* = 0.1133734378
    #   k = 50:  50 / 0.1133734378 = 441.020  -> 441
    #   k = 500: 500 / 0.1133734378 = 4410.20 -> 4410
    p_s3 = min_firing_rate(0.5, LN4, 20)
    assert p_s3 == pytest.approx(0.1133734378, abs=1e-10)
    assert specialized_bound(50, 0.5, LN4, 20, 8192) == 441
    assert specialized_bound(500, 0.5, LN4, 20, 8192) == 4410
    # uncapped gives the same (none of these reaches the 8192 neurons of the conv SAE)
    assert specialized_bound(500, 0.5, LN3, 20) == 5833

    r = specialization_bound(50, 0.5, LN3, 20, 8192)
    assert isinstance(r, SpecializationBound)
    assert (r.bound, r.p_star, r.h_min, r.budget, r.n_bins, r.n_neurons) == (583, p_ds, LN3, 50.0, 20, 8192)
    assert r.arithmetic == (
        "h(p)+p·ln 20 > 0.5·ln 3 = 0.549 needs p > 0.08572; 50 active per sample / 0.08572 = 583.3 "
        "-> at most 583 neurons of 8192"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.bound = 0


# -------------------------------------------------------------------------------------------------------- edge cases


def test_unreachable_threshold_gives_zero():
    # max g = ln 21 = 3.0445; 0.5 * 7 = 3.5 > ln 21
    assert math.isinf(min_firing_rate(0.5, 7.0, 20))
    assert specialized_bound(1e6, 0.5, 7.0, 20, 10**6) == 0
    # exactly at the maximum: g(p) > ln 21 is impossible
    assert math.isinf(min_firing_rate(1.0, math.log(21), 20))
    assert specialized_bound(50, 1.0, math.log(21), 20, 8192) == 0
    # just below it p* is the argmax of g, 20/21
    assert min_firing_rate(1.0, math.log(21) - 1e-9, 20) == pytest.approx(20 / 21, abs=1e-3)
    assert "no neuron can exceed" in specialization_bound(50, 0.5, 7.0, 20, 8192).arithmetic


def test_nonpositive_threshold_leaves_every_neuron():
    assert min_firing_rate(0.0, LN3, 20) == 0.0
    assert min_firing_rate(-0.1, LN3, 20) == 0.0
    assert specialized_bound(0.0, 0.0, LN3, 20, 123) == 123
    with pytest.raises(ValueError):
        specialized_bound(50, 0.0, LN3, 20)  # no cap available


def test_bad_arguments():
    with pytest.raises(ValueError):
        specialized_bound(-1, 0.5, LN3, 20, 10)
    with pytest.raises(ValueError):
        specialized_bound(50, 0.5, 0.0, 20, 10)
    with pytest.raises(ValueError):
        specialized_bound(50, 0.5, LN3, 20, -3)
    with pytest.raises(ValueError):
        min_firing_rate(0.5, LN3, 0)


def test_bound_capped_by_neurons_and_zero_budget():
    assert specialized_bound(500, 0.5, LN3, 20, 1000) == 1000
    assert specialized_bound(0, 0.5, LN3, 20, 1000) == 0
    assert "capped at the number of neurons" in specialization_bound(500, 0.5, LN3, 20, 1000).arithmetic
    for budget, tau, m in itertools.product([0.5, 5, 50, 500, 5000], [0.1, 0.3, 0.5, 0.7], [10, 300, 8192]):
        assert 0 <= specialized_bound(budget, tau, LN3, 20, m) <= m


def test_exact_integer_ratio_stays_an_upper_bound():
    # budget / p* = 7 exactly: the exact rule allows 6 (7 neurons would need sum p_i > 7 p* = budget);
    # the implementation returns 7, one above, never below.
    p_star = min_firing_rate(0.5, LN3, 20)
    assert specialized_bound(7 * p_star, 0.5, LN3, 20) == 7
    assert specialized_bound(7 * p_star * (1 - 1e-6), 0.5, LN3, 20) == 6
    assert specialized_bound(7 * p_star * (1 + 1e-6), 0.5, LN3, 20) == 7


def test_monotone_in_budget_and_threshold():
    budgets = np.linspace(0, 600, 241)
    taus = np.linspace(0.01, 1.5, 150)
    for h_min in (LN3, LN4, 0.3):
        for tau in (0.2, 0.5, 0.8):
            b = [specialized_bound(x, tau, h_min, 20, 8192) for x in budgets]
            assert np.all(np.diff(b) >= 0)
        for k in (5, 50, 500):
            b = [specialized_bound(k, t, h_min, 20, 8192) for t in taus]
            assert np.all(np.diff(b) <= 0)
        p = [min_firing_rate(t, h_min, 20) for t in taus]
        assert np.all(np.diff(p) >= 0)
    # more bins allow more entropy per active sample: p* falls, the bound rises
    assert min_firing_rate(0.5, LN3, 40) < min_firing_rate(0.5, LN3, 20) < min_firing_rate(0.5, LN3, 10)


# ------------------------------------------------------------------------------------- factor entropy as the metric


def _grid_factors(sizes: tuple[int, ...], repeat: int = 1) -> np.ndarray:
    """All combinations of factors with ``sizes`` classes (dSprites-style exhaustive grid), each ``repeat`` times."""
    grid = np.array(list(itertools.product(*[range(s) for s in sizes])), dtype=np.int64)
    return np.repeat(grid, repeat, axis=0)


def test_smallest_factor_entropy_matches_metric_and_skips_constants():
    rng = np.random.default_rng(0)
    n = 600
    factors = np.stack(
        [
            np.zeros(n, dtype=np.int64),  # constant (dSprites' colour): skipped
            rng.integers(0, 6, n),
            np.where(rng.random(n) < 0.8, 7, 3),  # unbalanced 2 classes: the smallest
            rng.integers(0, 40, n),
        ],
        axis=1,
    )
    h = smallest_factor_entropy(factors)
    assert h == factor_entropy(factors)[2]
    assert h == pytest.approx(mutual_info_score(factors[:, 2], factors[:, 2]), abs=1e-15)
    # the metric divides by exactly this entropy: MI / nMI for a neuron that copies factor 2
    acts = (factors[:, 2:3] == 7).astype(np.float32)
    mi = neuron_factor_mi(acts, factors, n_bins=20, normalize=False)
    nmi = neuron_factor_mi(acts, factors, n_bins=20, normalize=True)
    assert mi[0, 2] / nmi[0, 2] == pytest.approx(h, rel=1e-14)
    assert nmi[0, 0] == 0.0  # constant factor
    # dSprites-like grid: shape (3) is the smallest, colour (1) skipped
    grid = _grid_factors((1, 3, 6, 4))
    assert smallest_factor_entropy(grid) == pytest.approx(LN3, abs=1e-14)
    r = specialization_bound(50, 0.5, grid, 20, 8192)
    assert r.h_min == smallest_factor_entropy(grid)
    assert r.bound == specialized_bound(50, 0.5, r.h_min, 20, 8192)
    with pytest.raises(ValueError):
        smallest_factor_entropy(np.zeros((10, 2), dtype=np.int64))


# ------------------------------------------------------------------------------------- soundness against the metric


def _dsprites_like_acts(factors: np.ndarray, rng) -> np.ndarray:
    """Neurons built to encode factors as well as their firing rate allows, plus random sparse ones."""
    n = factors.shape[0]
    shape, scale, posx, posy = (factors[:, j] for j in (1, 2, 3, 4))
    inner = scale * 100 + posx * 10 + posy  # distinct within a shape class: spreads the active values over all bins
    cols = []
    for s in range(3):  # fire on exactly one shape class (p = 1/3), distinct values per other factors
        cols.append(np.where(shape == s, 1.0 + inner, 0.0))
        cols.append(np.where(shape == s, 1.0 + posx, 0.0))  # ... or per one other factor
        cols.append(np.where(shape == s, 1.0, 0.0))  # ... or a bare indicator
    for m in range(1, 10):  # smaller firing rates: one shape and posx < m (p = m / 30), value per posy / scale
        cols.append(np.where((shape == 0) & (posx < m), 1.0 + posy, 0.0))
        cols.append(np.where((shape == 1) & (posx < m), 1.0 + scale * 10 + posy, 0.0))
    for p in (0.01, 0.03, 0.1, 0.3, 0.6, 0.95):  # random supports, random values
        for _ in range(3):
            cols.append(np.where(rng.random(n) < p, rng.random(n) + 0.01, 0.0))
    for c in range(3):  # fire everywhere except one class: p = 2/3
        cols.append(np.where(shape != c, 1.0 + inner, 0.0))
    cols.append(np.zeros(n))  # dead
    return np.stack(cols, axis=1).astype(np.float32)


def test_every_neuron_nmi_is_below_its_activity_bound():
    rng = np.random.default_rng(1)
    factors = _grid_factors((1, 3, 6, 10, 10))  # colour, shape, scale, posx, posy: N = 1800
    acts = _dsprites_like_acts(factors, rng)
    h_min = smallest_factor_entropy(factors)
    assert h_min == pytest.approx(LN3, abs=1e-14)
    for n_bins in (5, 20, 50):
        nmi = neuron_factor_mi(acts, factors, n_bins=n_bins)
        p = activation_rate(acts)
        bound = activity_entropy_bound(p, n_bins) / h_min
        assert np.all(nmi.max(axis=1) <= bound + 1e-9)
        # the one-shape indicator neuron: nMI with shape is h(1/3) / ln 3 = 0.6365 / 1.0986 = 0.5794 (> tau = 0.5),
        # against its bound g(1/3) / ln 3 = (0.6365 + ln(n_bins) / 3) / 1.0986
        assert nmi[2, 1] == pytest.approx(binary_entropy(1 / 3) / LN3, abs=1e-12)
        # and the count never exceeds the budget bound, for any threshold
        budget = float(p.sum())
        for tau in np.linspace(0.05, 0.95, 19):
            count = specialized_count(nmi, tau)
            assert count <= specialized_bound(budget, tau, h_min, n_bins, acts.shape[1])


def test_random_topk_activations_respect_the_bound():
    rng = np.random.default_rng(2)
    factors = _grid_factors((1, 3, 4, 5), repeat=4)  # N = 240
    n, m, k = factors.shape[0], 64, 6
    # a mix of factor-driven and random pre-activations, then Top-k per sample
    w = rng.normal(size=(factors.shape[1], m))
    pre = factors @ w + rng.normal(scale=0.5, size=(n, m))
    thresh = np.sort(pre, axis=1)[:, -k][:, None]
    acts = np.where(pre >= thresh, np.maximum(pre - thresh + 0.1, 0.1), 0.0)
    assert (np.count_nonzero(acts, axis=1) == k).all()
    p = activation_rate(acts)
    assert p.sum() == pytest.approx(k)
    h_min = smallest_factor_entropy(factors)
    nmi = neuron_factor_mi(acts, factors, n_bins=20)
    assert np.all(nmi.max(axis=1) <= activity_entropy_bound(p, 20) / h_min + 1e-9)
    for tau in np.linspace(0.05, 0.95, 19):
        assert specialized_count(nmi, tau) <= specialized_bound(k, tau, h_min, 20, m)


def test_bound_is_nearly_attained_by_one_neuron():
    # A factor with class 0 of mass 1 - p and 19 classes of mass p / 19 (p = 0.2); the neuron is 0 on class 0 and
    # takes value c on class c.  Its 19 active values fall in 19 distinct bins (range [0, 19], width 0.95), so its
    # code is a relabelling of the factor: nMI = 1, and MI = H = h(p) + p ln 19, the most the discretizer allows.
    # g(p) = h(p) + p ln 20 overstates it only by p ln(20/19) = 0.0103 nats.
    p, reps = 0.2, 5
    labels = np.concatenate([np.zeros(76, dtype=np.int64), np.arange(1, 20)])  # 76 / 95 = 0.8
    factor = np.repeat(labels, reps)[:, None]
    acts = factor.astype(np.float32)
    assert activation_rate(acts)[0] == pytest.approx(p)
    h = smallest_factor_entropy(factor)
    assert h == pytest.approx(binary_entropy(p) + p * math.log(19), abs=1e-12)
    nmi = neuron_factor_mi(acts, factor, n_bins=20)[0, 0]
    assert nmi == pytest.approx(1.0, abs=1e-12)
    bound = activity_entropy_bound(p, 20) / h
    assert nmi <= bound + 1e-9
    assert bound - nmi == pytest.approx(p * math.log(20 / 19) / h, abs=1e-12)
    assert bound - nmi < 0.01


def test_count_bound_is_attained():
    # One factor, 60 equiprobable classes (H = ln 60), each twice (N = 120).  Neuron i fires on the 19 classes
    # (i + t) mod 60, t = 0..18, with value t + 1: p = 19/60, the code is a function of the factor with
    # H(c) = h(19/60) + (19/60) ln 19 = 0.6243 + 0.9324 = 1.5567 nats, nMI = 1.5567 / ln 60 = 0.3802 for every neuron.
    # With tau just below that, all 50 neurons are specialized; budget = 50 * 19/60 = 15.83, and
    # p* (g(p*) = tau ln 60 = 1.5567) = 0.3124 so the bound is floor(15.83 / 0.3124) = floor(50.69) = 50: tight.
    n_classes, reps, m, width = 60, 2, 50, 19
    factor = np.repeat(np.arange(n_classes), reps)[:, None]
    acts = np.zeros((factor.shape[0], m), dtype=np.float32)
    for i in range(m):
        for t in range(width):
            acts[factor[:, 0] == (i + t) % n_classes, i] = t + 1
    p = activation_rate(acts)
    assert np.allclose(p, width / n_classes)
    h_min = smallest_factor_entropy(factor)
    assert h_min == pytest.approx(math.log(60), abs=1e-13)
    nmi = neuron_factor_mi(acts, factor, n_bins=20)
    expected = (binary_entropy(width / n_classes) + width / n_classes * math.log(width)) / math.log(60)
    assert np.allclose(nmi[:, 0], expected, atol=1e-12)
    assert expected == pytest.approx(0.3802, abs=1e-4)
    tau = expected - 1e-6
    assert specialized_count(nmi, tau) == m
    budget = float(p.sum())
    assert min_firing_rate(tau, h_min, 20) == pytest.approx(0.3124, abs=1e-4)
    assert specialized_bound(budget, tau, h_min, 20) == m  # uncapped, and still exactly the count
    assert specialized_bound(budget, tau, h_min, 20, m) == m
