"""Upper bound on the number of specialized neurons implied by the activation budget.

The specialization metric (``specialization.py``) discretizes neuron i into ``c_i = discretize(a_i, B)``
(B = n_bins equal-width bins over the neuron's own [min, max]) and counts neuron i as specialized when
``max_j MI(c_i; v_j) / H(v_j) > tau`` (nats, empirical distributions over the N evaluation samples, nMI = 0 when
H(v_j) = 0).  With p_i = #{n : a[n, i] != 0} / N the neuron's firing rate (``dead.activation_rate``: a > 0 for the
non-negative Top-k / ReLU outputs)::

    h(p)  = -p ln p - (1 - p) ln(1 - p)                          binary entropy, nats, h(0) = h(1) = 0
    g(p)  = h(p) + p ln B                                          activity entropy bound
    MI(c_i; v_j) <= H(c_i) <= g(p_i)

because every zero of a_i falls in one bin, so ``c_i`` is a function of ``(z, c_i * z)`` with ``z = 1[a_i != 0]``:
``H(c_i) <= H(z) + H(c_i | z) <= h(p_i) + p_i ln B + (1 - p_i) * 0`` (given z = 0 the code is the zero bin; given
z = 1 it is one of at most B bins).  All quantities are empirical, so this holds exactly on the evaluation samples,
for any N and any sign of the activations.

Let H_min = min{H(v_j) : H(v_j) > 0}, the entropy of the easiest factor to be specialized to.  For tau >= 0, factors
with H = 0 never give nMI > tau, and for the others nMI = MI / H(v_j) <= g(p_i) / H_min, so::

    neuron i specialized  =>  g(p_i) > tau * H_min  =>  p_i > p*

    p* = 0         if tau * H_min <= 0                      (nothing excludes any neuron)
    p* = inf       if tau * H_min >= ln(B + 1) = max_p g(p)  (no neuron can qualify)
    p* = the root of g(p) = tau * H_min in (0, B / (B + 1))   otherwise

g is concave with g'(p) = ln(B (1 - p) / p): it increases from g(0) = 0 to its maximum ln(B + 1) at p = B / (B + 1)
(the entropy of B + 1 equiprobable codes) and then decreases to g(1) = ln B.  So for 0 < t < ln(B + 1) the set
{p : g(p) > t} is an interval (p*, q) whose left end is the root on the increasing branch, and g(p_i) > t implies
p_i > p*.

The budget is ``sum_i p_i`` = mean number of nonzero neurons per sample (<= k under Top-k).  If S neurons are
specialized, each has p_i > p*, so ``S * p* < sum_{i in S} p_i <= budget``, i.e. S < budget / p* strictly::

    bound = min(M, ceil(budget / p*) - 1)      exact rule (= floor(budget / p*) unless budget / p* is an integer)

``specialized_bound`` returns ``min(M, floor(budget / p* * (1 + 1e-9)))``: the floor of budget / p* with a 1e-9
relative allowance, which is >= the exact rule (it may exceed it by one when budget / p* is within 1e-9 of an
integer) and so stays an upper bound despite p* being a root found to ~1e-13 and the metric rounding its MI at
~1e-15.  p* = 0 gives M; p* = inf gives 0.  (nMI <= 1 is not used: for tau < 1 it adds nothing, and the metric's
rounded nMI can exceed 1 by an ulp.)

Worked example (dSprites: smallest factor shape, 3 equiprobable classes, H_min = ln 3; tau = 0.5, B = 20)::

    h(p) + p ln 20 > 0.5 ln 3 = 0.5493   needs p > p* = 0.085718131
    k = 50:  50 / 0.085718131 = 583.31   -> at most 583 specialized neurons     (k = 500: 5833)
    Shapes3D (shape, 4 classes, 0.5 ln 4 = ln 2): p* = 0.113373438, k = 50 -> 441, k = 500 -> 4410

Slack: the zero bin is one of the B codes and holds mass >= 1 - p, so the discretizer itself reaches at most
H(c_i) = h(p) + p ln(B - 1) (for p <= 1 - 1/B); g overstates the entropy by at most p ln(B / (B - 1)) nats, and is
otherwise attained by a neuron whose code is a function of a factor of that entropy (tests/test_bound.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .mutual_info import factor_entropy

__all__ = [
    "SpecializationBound",
    "activity_entropy_bound",
    "binary_entropy",
    "min_firing_rate",
    "smallest_factor_entropy",
    "specialization_bound",
    "specialized_bound",
]

_SLACK = 1e-9  # relative allowance on budget / p* (see module docstring)


def _check_n_bins(n_bins) -> int:
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins}")
    return int(n_bins)


def binary_entropy(p):
    """h(p) = -p ln p - (1 - p) ln(1 - p) in nats, elementwise, with h(0) = h(1) = 0 -> float64 (scalar or array)."""
    from scipy.special import entr

    p = np.asarray(p, dtype=np.float64)
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("binary_entropy needs p in [0, 1]")
    return (entr(p) + entr(1.0 - p))[()]


def activity_entropy_bound(p, n_bins: int):
    """g(p) = h(p) + p ln(n_bins): the most entropy (nats) a neuron firing on a fraction p can have once discretized.

    Elementwise over ``p`` in [0, 1] -> float64 (scalar or array).  g(0) = 0, max g = ln(n_bins + 1) at
    p = n_bins / (n_bins + 1), g(1) = ln(n_bins).
    """
    n_bins = _check_n_bins(n_bins)
    p = np.asarray(p, dtype=np.float64)
    return (binary_entropy(p) + p * math.log(n_bins))[()]


def min_firing_rate(tau: float, h_min: float, n_bins: int) -> float:
    """p*: a neuron needs firing rate p > p* for ``g(p) > tau * h_min``, i.e. to be able to reach nMI > tau.

    0 when ``tau * h_min <= 0``; ``inf`` when ``tau * h_min >= ln(n_bins + 1)``; otherwise the root of
    ``g(p) = tau * h_min`` in (0, n_bins / (n_bins + 1)), found by ``scipy.optimize.brentq`` (absolute error ~1e-14).
    """
    from scipy.optimize import brentq

    n_bins = _check_n_bins(n_bins)
    if not (math.isfinite(tau) and math.isfinite(h_min)):
        raise ValueError(f"tau and h_min must be finite, got {tau}, {h_min}")
    target = float(tau) * float(h_min)
    if target <= 0.0:
        return 0.0
    if target >= math.log(n_bins + 1):
        return math.inf
    top = n_bins / (n_bins + 1)  # g increases on [0, top] from 0 to ln(n_bins + 1)

    def f(p: float) -> float:
        return float(activity_entropy_bound(p, n_bins)) - target

    return float(brentq(f, 0.0, top, xtol=1e-14, rtol=4 * np.finfo(np.float64).eps, maxiter=200))


def smallest_factor_entropy(factors) -> float:
    """Smallest positive empirical entropy (nats) among the integer factor columns of ``factors`` (N, F).

    Uses ``mutual_info.factor_entropy``, the entropy the specialization metric divides by, so the numbers agree
    exactly; constant factors (H = 0, whose nMI is always 0) are skipped.  ValueError if no factor varies.
    """
    h = factor_entropy(factors)
    positive = h[h > 0]
    if positive.size == 0:
        raise ValueError("no factor has positive entropy: every nMI is 0")
    return float(positive.min())


def specialized_bound(budget: float, tau: float, h_min: float, n_bins: int, n_neurons: int | None = None) -> int:
    """Most neurons that can have nMI > ``tau`` when ``budget`` neurons are active per sample on average.

    ``min(n_neurons, floor(budget / p* * (1 + 1e-9)))`` with ``p* = min_firing_rate(tau, h_min, n_bins)`` (see the
    module docstring for why this is never below a reachable count); 0 when p* = inf, ``n_neurons`` when p* = 0.
    ``budget`` = ``activation_rate(acts).sum()`` (<= k under Top-k).  ``n_neurons=None`` means no cap (ValueError
    if p* = 0, where the only bound is the number of neurons).
    """
    if not math.isfinite(budget) or budget < 0:
        raise ValueError(f"budget must be a finite number >= 0, got {budget}")
    if not h_min > 0:
        raise ValueError(f"h_min must be > 0 (the smallest positive factor entropy), got {h_min}")
    if n_neurons is not None and (int(n_neurons) != n_neurons or n_neurons < 0):
        raise ValueError(f"n_neurons must be an integer >= 0, got {n_neurons}")
    p_star = min_firing_rate(tau, h_min, n_bins)
    if p_star == 0.0:
        if n_neurons is None:
            raise ValueError("tau * h_min <= 0: every neuron may count, pass n_neurons")
        return int(n_neurons)
    if math.isinf(p_star):
        return 0
    bound = math.floor(budget / p_star * (1.0 + _SLACK))
    return bound if n_neurons is None else min(int(n_neurons), bound)


@dataclass(frozen=True)
class SpecializationBound:
    """The budget bound and its ingredients; ``arithmetic`` is one line a report can print verbatim."""

    tau: float
    h_min: float
    n_bins: int
    budget: float
    n_neurons: int | None
    p_star: float
    bound: int
    arithmetic: str


def _fmt_entropy(h: float) -> str:
    """``ln K`` when ``h`` is the entropy of K equiprobable classes (to 1e-9), else the number."""
    k = round(math.exp(h)) if h < 30 else 0
    if k >= 2 and abs(h - math.log(k)) < 1e-9:
        return f"ln {k}"
    return f"{h:.4g}"


def _fmt_number(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.4g}"


def specialization_bound(
    budget: float, tau: float, factors_or_h_min, n_bins: int, n_neurons: int | None = None
) -> SpecializationBound:
    """``specialized_bound`` with its ingredients and arithmetic.

    ``factors_or_h_min``: the (N, F) integer factors of the evaluation samples (H_min = ``smallest_factor_entropy``)
    or H_min itself (a positive number).  Example (dSprites, tau = 0.5, 20 bins, k = 50)::

        h(p)+p·ln 20 > 0.5·ln 3 = 0.549 needs p > 0.08572; 50 active per sample / 0.08572 = 583.3 -> at most
        583 neurons of 8192                         (one line, wrapped here)
    """
    if np.ndim(factors_or_h_min) == 0:
        h_min = float(factors_or_h_min)
    else:
        h_min = smallest_factor_entropy(factors_or_h_min)
    n_bins = _check_n_bins(n_bins)
    bound = specialized_bound(budget, tau, h_min, n_bins, n_neurons)
    p_star = min_firing_rate(tau, h_min, n_bins)
    target = tau * h_min
    lhs = f"h(p)+p·ln {n_bins}"
    rhs = f"{_fmt_number(tau)}·{_fmt_entropy(h_min)} = {target:.3g}"
    of = "" if n_neurons is None else f" of {n_neurons}"
    if p_star == 0.0:
        text = f"{_fmt_number(tau)}·{_fmt_entropy(h_min)} <= 0: no firing-rate constraint -> all {n_neurons} neurons"
    elif math.isinf(p_star):
        text = f"{lhs} <= ln {n_bins + 1} = {math.log(n_bins + 1):.3g} <= {rhs}: no neuron can exceed nMI {tau:g} -> 0"
    else:
        ratio = budget / p_star
        text = (
            f"{lhs} > {rhs} needs p > {p_star:.4g}; {_fmt_number(budget)} active per sample / {p_star:.4g} "
            f"= {ratio:.1f} -> at most {bound} neurons{of}"
        )
        if n_neurons is not None and bound == n_neurons and ratio > n_neurons:
            text += " (capped at the number of neurons)"
    return SpecializationBound(
        tau=float(tau),
        h_min=h_min,
        n_bins=n_bins,
        budget=float(budget),
        n_neurons=None if n_neurons is None else int(n_neurons),
        p_star=p_star,
        bound=bound,
        arithmetic=text,
    )
