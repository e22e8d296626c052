"""Every statistical comparison behind the tables and the claim verdicts, computed once.

The comparison functions here are called by :class:`vaesae.report.contrasts.Contrasts` only, which declares each
comparison the paper makes once. A :class:`Comparison` records one contrast (``"topk - init"``: phase b minus
phase a) of one dataset and condition: the per-seed values it summarises, their ``mean``, sample ``std``
(``ddof=1``, NaN when n = 1) and ``n``, a test with its statistic and p-value, an effect size, and where relevant a
second test. :mod:`vaesae.report.tables`
formats comparisons and :mod:`vaesae.report.claims` judges them; both decide "is this change stable?" with the one
rule :func:`change_is_stable`, with thresholds taken from the config only (:func:`thresholds`).

Formulas, over the n seeds present in both a and b, d_i = b_i - a_i, d̄ their mean, s_d their std (ddof=1):

- paired t-test (``scipy.stats.ttest_rel(a, b)``; the statistic has the sign of a - b):
  t = -d̄ / (s_d / √n), two-sided p from Student's t with n - 1 degrees of freedom; effect Cohen's d_z = d̄ / s_d.
  Degenerate cases: n < 2 -> NaN; every d_i = 0 -> t = 0, p = 1, d_z = 0; equal non-zero d_i (s_d = 0) -> t = ∓inf,
  p = 0, d_z = ±inf.
- Wilcoxon signed-rank test (``scipy.stats.wilcoxon(a, b)``), the second test of a paired comparison when
  n >= :data:`WILCOXON_MIN_N` and not every d_i = 0: W = min(W+, W-), the smaller sum of the ranks of |d_i| over the
  positive / negative d_i; two-sided p.
- relative change per seed: r_i = (b_i - a_i) / a_i for a_i > 0. The MSE change over stage 3 (:func:`mse_change`):
  a = MSE at the first, b = at the last stage-3 epoch of the run's history.csv (seeds with >= 2 epochs); without
  one, a = phase ``init`` and b = the method's phase of the evaluation files. Its test: the paired t-test of a vs b.
- ratio of two group means (:func:`ratio_stats`): R = m_1 / m_2 with the first-order (delta-method) std
  |R| √((s_1/m_1)² + (s_2/m_2)²), n = min(n_1, n_2); its test: Welch's t-test of the two groups,
  t = (m_1 - m_2) / √(s_1²/n_1 + s_2²/n_2) (``scipy.stats.ttest_ind(..., equal_var=False)``).
- one-sample t-test against a reference μ: t = (m - μ) / (s / √n); effect Cohen's d = (m - μ) / s.

Decisions: :func:`change_is_stable` -- an equivalence test (TOST) on the per-seed relative change r_i: with
n >= 2, stable <=> the (1 − 2·``p_value``) t interval of r̄ lies within ±``relative_tolerance``; a change <=> it lies
wholly outside; undecided (None) otherwise; with n = 1 (no test), stable <=> |r| <= ``relative_tolerance``.
:func:`no_increase_beyond` -- mean <= ``tolerance`` (one-sided: the relative MSE change of claim C4 and Table 6).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

#: A paired comparison adds the Wilcoxon signed-rank test from this many seeds on.
WILCOXON_MIN_N = 6

PAIRED_T = "paired t-test"
WILCOXON = "Wilcoxon signed-rank test"
ONE_SAMPLE_T = "one-sample t-test"
WELCH_T = "Welch t-test"
#: Contrast of the relative MSE change from the first to the last stage-3 epoch of a run's history.
MSE_STAGE3 = "(last - first) / first stage-3 epoch"


@dataclass(frozen=True)
class Comparison:
    """One contrast of one dataset/condition: per-seed ``values`` (differences, relative changes or values, keyed by
    ``seeds``; empty for a ratio of two independent groups), their summary, and the tests (NaN when not run)."""

    contrast: str
    dataset: str
    condition: str
    seeds: tuple
    values: tuple
    mean: float
    std: float
    n: int
    mean_a: float  # mean of the reference side (a, the denominator of a ratio)
    mean_b: float  # mean of the other side (b, the numerator of a ratio)
    test: str
    statistic: float
    p: float
    effect: float
    test2: str = ""
    statistic2: float = math.nan
    p2: float = math.nan


# --------------------------------------------------------------------------------------------------- helpers
def ordered(values, preferred=()) -> list:
    """Unique values: the ``preferred`` ones first in that order, then the rest sorted."""
    present = [v for v in pd.unique(pd.Series(list(values), dtype=object)) if v is not None and v == v]
    head = [v for v in preferred if v in present]
    tail = sorted((v for v in present if v not in preferred), key=str)
    return head + tail


def summarize(values) -> tuple[float, float, int]:
    """(mean, sample std, n) of the finite values; std is NaN for n < 2, mean NaN for n = 0."""
    arr = _finite(values)
    n = int(arr.size)
    if n == 0:
        return math.nan, math.nan, 0
    mean = float(arr.mean())
    std = float(arr.std(ddof=1)) if n > 1 else math.nan
    return mean, std, n


def paired(scalars: pd.DataFrame, dataset: str, phase_a: str, phase_b: str, column: str) -> pd.DataFrame:
    """Per-seed values of ``column`` at two phases of one dataset, seeds present in both (columns a, b)."""
    sub = scalars[scalars["dataset"] == dataset]
    a = sub[sub["phase"] == phase_a].set_index("seed")[column]
    b = sub[sub["phase"] == phase_b].set_index("seed")[column]
    out = pd.concat({"a": a, "b": b}, axis=1, join="inner").dropna()
    return out.sort_index()


def ratio_stats(num: tuple, den: tuple) -> tuple[float, float, int]:
    """Ratio of two means given as (mean, std, n), with a first-order (delta-method) std; n = the smaller n."""
    (m1, s1, n1), (m2, s2, n2) = num, den
    if not (np.isfinite(m1) and np.isfinite(m2)) or m2 == 0:
        return math.nan, math.nan, min(n1, n2)
    ratio = m1 / m2
    if np.isfinite(s1) and np.isfinite(s2) and m1 != 0:
        std = abs(ratio) * math.sqrt((s1 / m1) ** 2 + (s2 / m2) ** 2)
    else:
        std = math.nan
    return ratio, std, min(n1, n2)


def _finite(values) -> np.ndarray:
    arr = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(dtype=float)
    return arr[np.isfinite(arr)]


def _values(series: pd.Series) -> tuple[tuple, tuple]:
    series = series[np.isfinite(series.to_numpy(dtype=float))]
    return tuple(series.index), tuple(float(v) for v in series)


# --------------------------------------------------------------------------------------------------- tests
def paired_test(a, b) -> tuple[float, float, float]:
    """Paired t-test of b vs a (``scipy.stats.ttest_rel(a, b)``) and Cohen's d_z of b - a: (t, p, d_z)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2:
        return math.nan, math.nan, math.nan
    diff = b - a
    if np.allclose(diff, 0.0):
        return 0.0, 1.0, 0.0
    sd = diff.std(ddof=1)
    if sd == 0:  # identical non-zero differences: the test is degenerate (infinitely significant)
        return math.copysign(math.inf, -diff.mean()), 0.0, math.copysign(math.inf, diff.mean())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's precision-loss note on near-identical data
        res = stats.ttest_rel(a, b)
    return float(res.statistic), float(res.pvalue), float(diff.mean() / sd)


def wilcoxon_test(a, b) -> tuple[float, float]:
    """Wilcoxon signed-rank test of b vs a (``scipy.stats.wilcoxon(a, b)``): (W, p); NaN with fewer than
    :data:`WILCOXON_MIN_N` pairs or when every difference is zero."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < WILCOXON_MIN_N or np.allclose(b - a, 0.0):
        return math.nan, math.nan
    res = stats.wilcoxon(a, b)
    return float(res.statistic), float(res.pvalue)


# --------------------------------------------------------------------------------------------------- comparisons
def compare_paired(pairs: pd.DataFrame, contrast: str, dataset: str, condition: str = "") -> Comparison:
    """Per-seed differences b - a of a paired frame (columns a, b, indexed by seed): paired t-test, Cohen's d_z,
    and the Wilcoxon signed-rank test from :data:`WILCOXON_MIN_N` seeds on."""
    a, b = pairs["a"].astype(float), pairs["b"].astype(float)
    diff = b - a
    mean, std, n = summarize(diff)
    t, p, dz = paired_test(a, b)
    w, pw = wilcoxon_test(a, b)
    seeds, values = _values(diff)
    return Comparison(contrast, dataset, condition, seeds, values, mean, std, n, summarize(a)[0], summarize(b)[0],
                      PAIRED_T, t, p, dz, WILCOXON if np.isfinite(pw) else "", w, pw)


def relative_change(pairs: pd.DataFrame, contrast: str, dataset: str, condition: str = "") -> Comparison:
    """Per-seed relative change (b - a) / a (seeds with a > 0) of a paired frame; test: paired t-test of a vs b."""
    a, b = pairs["a"].astype(float), pairs["b"].astype(float)
    rel = (b - a) / a.where(a > 0)
    mean, std, n = summarize(rel)
    t, p, dz = paired_test(a, b)
    seeds, values = _values(rel)
    return Comparison(contrast, dataset, condition, seeds, values, mean, std, n, summarize(a)[0], summarize(b)[0],
                      PAIRED_T, t, p, dz)


def stage3_mse(histories: pd.DataFrame | None, dataset: str, method: str) -> pd.DataFrame:
    """Per-seed MSE at the first (a) and last (b) stage-3 epoch of the ``method`` run; seeds with >= 2 epochs."""
    first, last = {}, {}
    if histories is not None and len(histories):
        h = histories[(histories["dataset"] == dataset) & (histories["stage"] == "sparsify")
                      & (histories["phase"] == method)].dropna(subset=["mse", "epoch"])
        for seed, g in h.groupby("seed"):
            g = g.sort_values("epoch")
            if len(g) >= 2:
                first[seed], last[seed] = float(g["mse"].iloc[0]), float(g["mse"].iloc[-1])
    return pd.DataFrame({"a": pd.Series(first, dtype=float), "b": pd.Series(last, dtype=float)}).sort_index()


def mse_change(histories: pd.DataFrame | None, dataset: str, method: str,
               scalars: pd.DataFrame | None = None) -> Comparison:
    """Relative MSE change over stage 3 per seed (contrast :data:`MSE_STAGE3`). When the histories give none and
    ``scalars`` is given: phase ``init`` -> ``method`` of the evaluation files
    (contrast ``"({method} - init) / init"``).
    """
    change = relative_change(stage3_mse(histories, dataset, method), MSE_STAGE3, dataset, method)
    if change.n or scalars is None:
        return change
    return relative_change(paired(scalars, dataset, "init", method, "mse"), f"({method} - init) / init", dataset,
                           method)


def one_sample(values: pd.Series, reference: float, dataset: str, condition: str = "") -> Comparison:
    """Per-seed values (indexed by seed) against a reference mean: one-sample t-test and Cohen's d (needs n >= 2,
    a finite reference and a non-zero std)."""
    mean, std, n = summarize(values)
    arr = _finite(values)
    t = p = effect = math.nan
    if n >= 2 and np.isfinite(reference) and std > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.ttest_1samp(arr, reference)
        t, p, effect = float(res.statistic), float(res.pvalue), (mean - reference) / std
    seeds, vals = _values(values.astype(float))
    return Comparison(f"values - {reference:g}", dataset, condition, seeds, vals, mean, std, n, reference, mean,
                      ONE_SAMPLE_T, t, p, effect)


def ratio_comparison(num, den, contrast: str, dataset: str, condition: str = "") -> Comparison:
    """Ratio of the means of two independent groups (:func:`ratio_stats`) with Welch's t-test num vs den (needs
    n >= 2 in both groups and a non-zero std in one); no effect size."""
    a_num, a_den = _finite(num), _finite(den)
    s_num, s_den = summarize(a_num), summarize(a_den)
    ratio, std, n = ratio_stats(s_num, s_den)
    t = p = math.nan
    if a_num.size >= 2 and a_den.size >= 2 and (s_num[1] > 0 or s_den[1] > 0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.ttest_ind(a_num, a_den, equal_var=False)
        t, p = float(res.statistic), float(res.pvalue)
    return Comparison(contrast, dataset, condition, (), (), ratio, std, n, s_den[0], s_num[0], WELCH_T, t, p,
                      math.nan)


# --------------------------------------------------------------------------------------------------- decisions
#: ``claims.mig_reference`` -> (phase of the k_start evaluation point, its description), for Table 2 and C3.
MIG_REFERENCES = {"init": ("init", "end of stage 2"), "warmup": ("topk_warmup", "end of the stage-3 warm-up")}


def reference_point(key: str) -> tuple[str, str]:
    """(phase, description) of ``claims.mig_reference``; ValueError naming the key for an unknown value."""
    if key not in MIG_REFERENCES:
        raise ValueError(f"claims.mig_reference must be one of {list(MIG_REFERENCES)}, got {key!r}")
    return MIG_REFERENCES[key]


def thresholds(cfg: dict | None, types: dict[str, type], block: str = "claims") -> dict:
    """The thresholds ``types`` (key -> type) from a config block; a missing or null key is an error naming it."""
    cfg = cfg or {}
    missing = [key for key in types if cfg.get(key) is None]
    if missing:
        raise KeyError(f"config key(s) missing: {', '.join(f'{block}.{k}' for k in missing)}")
    return {key: kind(cfg[key]) for key, kind in types.items()}


def _t_interval(c: Comparison, alpha: float) -> tuple[float, float]:
    """The two-sided (1 − 2·alpha) interval of the mean of the per-seed values (each side a one-sided (1 − alpha)
    bound; Student t with n − 1 degrees of freedom; the common value when the seeds agree exactly); NaN below n = 2."""
    values = _finite(c.values)
    if len(values) < 2:
        return math.nan, math.nan
    mean, sd = float(values.mean()), float(np.std(values, ddof=1))
    half = 0.0 if sd == 0.0 else float(stats.t.ppf(1 - alpha, len(values) - 1)) * sd / math.sqrt(len(values))
    return mean - half, mean + half


def change_is_stable(c: Comparison, *, p_value: float, relative_tolerance: float) -> bool | None:
    """Is the relative change ``c`` (per-seed values r_i = (b_i − a_i) / a_i, :func:`relative_change`) stable? The one
    rule of Table 2's label and claim C3: an equivalence test (TOST) with the margin ±``relative_tolerance``.

    n >= 2: the two one-sided t-tests at level ``p_value`` both reject, i.e. the (1 − 2·p_value) interval of the mean
    relative change lies inside (−margin, +margin): True (stable); the interval lies wholly outside the margin (a
    change larger than the margin, shown): False; it straddles a margin: None (the seeds cannot tell). n = 1 (no
    test): |r| <= margin. n = 0: None. A null result never passes: a consistent 15 % drop is not stable at a 10 %
    margin, however few seeds there are.
    """
    if c.n == 0:
        return None
    if c.n == 1:
        return bool(abs(c.mean) <= relative_tolerance)
    lo, hi = _t_interval(c, p_value)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    if -relative_tolerance < lo and hi < relative_tolerance:
        return True
    if lo > relative_tolerance or hi < -relative_tolerance:
        return False
    return None


def equivalence_interval(c: Comparison, p_value: float) -> tuple[float, float]:
    """The interval :func:`change_is_stable` compares with its margin (NaN below 2 seeds)."""
    return _t_interval(c, p_value)


def detectable_margin(c: Comparison, p_value: float) -> float:
    """The smallest margin these seeds could have shown equivalent: max |bound| of the (1 − 2·p_value) interval
    (NaN below 2 seeds). A rule with a smaller margin cannot say "stable" with these seeds."""
    lo, hi = _t_interval(c, p_value)
    return max(abs(lo), abs(hi)) if np.isfinite(lo) else math.nan


def stable_rule(p_value: float, relative_tolerance: float) -> str:
    """The text of :func:`change_is_stable`'s rule with its thresholds."""
    return (f"equivalence (TOST): stable when the {1 - 2 * p_value:.0%} interval of the mean relative change lies "
            f"within ±{relative_tolerance:.0%}; a change when it lies wholly outside; undecided when it straddles the "
            f"margin (one seed, no test: |relative change| <= {relative_tolerance:.0%})")


def no_increase_beyond(c: Comparison, tolerance: float) -> bool | None:
    """mean <= ``tolerance``: no increase beyond it (one-sided; a decrease of any size passes). None without a mean.
    The rule of claim C4 and Table 6's "no degradation" (relative MSE change over stage 3)."""
    if c.n == 0 or not np.isfinite(c.mean):
        return None
    return bool(c.mean <= tolerance)


def lower_bound(c: Comparison, alpha: float) -> float:
    """The one-sided (1 − alpha) lower confidence bound of the mean of the per-seed values (Student t; NaN with fewer
    than 2 seeds; the common value when every seed gives the same one)."""
    values = _finite(c.values)
    if len(values) < 2:
        return math.nan
    sd = float(np.std(values, ddof=1))
    if sd == 0.0:
        return float(values.mean())
    return float(values.mean() - stats.t.ppf(1 - alpha, len(values) - 1) * sd / math.sqrt(len(values)))
