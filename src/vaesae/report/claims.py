"""Verdicts on the paper's claims C1-C8 (shared/reference/method-notes.md), from this run's results, and on the
pipeline's own question C9 (beyond the paper): does the collapse persist under every dead-latent remedy?

Each claim is a :class:`Claim` row of :data:`CLAIMS` (at the end of this module) holding its functions and its
contrast as objects; the comparisons come from :class:`vaesae.report.contrasts.Contrasts`, the very ones the tables
show (C3 and Table 2's "MIG change" share :func:`vaesae.report.stats.change_is_stable`, C4 and Table 6's assessment
:func:`vaesae.report.stats.no_increase_beyond`). :func:`_decide` is the one function that sets a verdict and its
reason; each claim's rule is written out in its rows' ``tolerance`` text. Nothing here hard-codes a number of the
paper: the reported values come from the config's ``claims.paper`` block, the rules from the other ``claims:`` keys.

:func:`evaluate_claims` returns one row per verdict: ``level == "claim"`` rows (``dataset == "all"``) combine the
``level == "detail"`` rows of each dataset (C4, C6, C9: each method): any "not reproduced" -> "not reproduced";
otherwise any "inconclusive" -> "inconclusive"; otherwise "reproduced". ``verdict`` is one of :data:`VERDICTS`;
``reason`` says why a row is inconclusive (``too few seeds (n=1 < min_seeds=3)``). C9 (``origin`` "pipeline") has
the verdicts supported / contradicted / inconclusive / not comparable (:func:`_c9`; not-comparable rows are left out
of the claim-level verdict) and no rows where no remedy ran.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from vaesae import methods as method_table
from vaesae.report import catalog
from vaesae.report import contrasts as cx
from vaesae.report.catalog import DATASET_ORDER, Catalog
from vaesae.report.collect import AT_INIT, load_evaluations
from vaesae.report.markdown import md_table
from vaesae.report.stats import (MSE_STAGE3, Comparison, change_is_stable, detectable_margin, equivalence_interval,
                                 lower_bound, no_increase_beyond, ordered, reference_point, stable_rule, summarize,
                                 thresholds)
from vaesae.report.style import dataset_label, method_label

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
#: The verdicts of the pipeline's own question C9 (nothing of the paper to reproduce).
SUPPORTED, CONTRADICTED, NOT_COMPARABLE = "supported", "contradicted", "not comparable"
PAPER_VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
QUESTION_VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_COMPARABLE)
VERDICTS = PAPER_VERDICTS + (SUPPORTED, CONTRADICTED, NOT_COMPARABLE)
#: The ``origin`` column of claims.csv per catalog origin: a claim of the paper, or a question the pipeline asks
#: beyond it.
ORIGIN_TEXT = {catalog.PAPER: "paper", catalog.PIPELINE: "pipeline (beyond the paper)"}

COLUMNS = (
    "claim", "level", "description", "dataset", "condition", "paper_value", "measured", "measured_mean",
    "measured_std", "n", "test", "statistic", "p_value", "effect_size", "tolerance", "verdict", "reason", "forced",
    "origin",
)
#: The ``forced`` column (computed per row by the claim row's ``label`` function, e.g. :func:`_c1_label`): is the
#: claim a finding of training, or forced by the metric (bounds, floors) or the architecture (the stop-gradient
#: control)?

#: The tolerance rules and their types. Their values live in config.yaml (`claims:`), the one source of truth.
RULE_TYPES = {
    "min_seeds": int,
    "dead_pct_tolerance": float,
    "extended_change_tolerance": float,
    "ratio_tolerance": float,
    "p_value": float,
    "mse_relative_tolerance": float,
    "mig_relative_tolerance": float,
    "mig_reference": str,
}
#: C9's rule: the keys of the config's ``claims.remedies`` block.
REMEDY_RULE_TYPES = {"collapse_dead_pct": float, "baseline": str, "reduction_points": float,
                     "l0_match_tolerance": float}


@dataclass(frozen=True)
class Context:
    """What a claim reads: the run's result frames, their comparisons (each computed once), the config's
    ``claims:`` block (``cfg``: its ``paper`` values) and its thresholds (``rules``, ``remedy_rules``)."""

    scalars: pd.DataFrame
    histories: pd.DataFrame | None
    sweep: pd.DataFrame | None
    contrasts: cx.Contrasts
    cfg: dict
    rules: dict
    remedy_rules: dict


def context(scalars: pd.DataFrame | None, histories: pd.DataFrame | None, sweep: pd.DataFrame | None,
            cfg: dict[str, Any] | None) -> Context:
    """The :class:`Context` of a run; the rules come from ``cfg`` (a missing key is an error naming it)."""
    scalars = load_evaluations(None) if scalars is None else scalars
    return Context(scalars, histories, sweep, cx.Contrasts(scalars, histories), cfg or {}, thresholds(cfg, RULE_TYPES),
                   thresholds((cfg or {}).get("remedies"), REMEDY_RULE_TYPES, block="claims.remedies"))


# --------------------------------------------------------------------------------------------------- helpers
def _paper(cfg: dict | None, key: str, sub: str | None = None):
    """``cfg["paper"][key][sub]`` or None."""
    block = ((cfg or {}).get("paper") or {}).get(key)
    if sub is None or block is None:
        return block
    return block.get(sub) if isinstance(block, dict) else None


def _mean_std(value) -> tuple[float, float]:
    """A paper value given as ``[mean, std]``, ``{mean:, std:}`` or a bare number."""
    if value is None:
        return math.nan, math.nan
    if isinstance(value, dict):
        return float(value.get("mean", math.nan)), float(value.get("std", math.nan) or math.nan)
    if isinstance(value, (list, tuple)):
        return float(value[0]), (float(value[1]) if len(value) > 1 and value[1] is not None else math.nan)
    return float(value), math.nan


def _fmt(mean: float, std: float = math.nan, digits: int = 1, signed: bool = False) -> str:
    if mean is None or not np.isfinite(mean):
        return "n/a"
    out = f"{mean:+,.{digits}f}" if signed else f"{mean:,.{digits}f}"
    if std is not None and np.isfinite(std):
        out += f" ± {std:,.{digits}f}"
    return out


def _paper_text(value, digits: int = 1, unit: str = "") -> str:
    m, s = _mean_std(value)
    return "n/a (not in config)" if not np.isfinite(m) else _fmt(m, s, digits) + unit


def _measured(mean, std, n, digits=1, unit="", signed=False) -> str:
    if n == 0 or not np.isfinite(mean):
        return "no data"
    return f"{_fmt(mean, std, digits, signed)}{unit} (n={n})"


def _row(claim: str, dataset: str, condition: str = "", c: Comparison | None = None, of: Comparison | None = None,
         **values) -> dict:
    """A detail row: ``c``'s statistic, p and effect, the mean, std and n of ``of`` (default ``c``), then ``values``."""
    row = {col: None for col in COLUMNS}
    row.update({"claim": claim, "level": "detail", "description": CLAIMS[claim].title, "dataset": dataset,
                "condition": condition})
    if c is not None:
        of = of or c
        row.update(measured_mean=of.mean, measured_std=of.std, n=of.n, statistic=c.statistic, p_value=c.p,
                   effect_size=c.effect)
    row.update(values)
    return row


def _few_seeds(n: int, rules: dict) -> str | None:
    return f"too few seeds (n={n} < min_seeds={rules['min_seeds']})" if n < rules["min_seeds"] else None


def _decide(row: dict, ok: bool | None, n: int, rules: dict, missing: str | None = None,
            words: tuple[str, str] = (REPRODUCED, NOT_REPRODUCED), undecided: str | None = None,
            not_comparable: str | None = None) -> dict:
    """The one function that sets a row's verdict and reason: inconclusive for missing inputs or n < min_seeds;
    else "not comparable" for the reason ``not_comparable`` (C9: another L0); else by ``ok`` (``words``: the verdicts
    for True and False). ``ok`` None with nothing missing is inconclusive for the reason ``undecided`` (the seeds
    cannot tell: :func:`_cannot_tell`)."""
    reason = missing or _few_seeds(n, rules)
    if not reason and not_comparable:
        row.update(verdict=NOT_COMPARABLE, reason=not_comparable)
    elif reason or ok is None:
        row.update(verdict=INCONCLUSIVE, reason=reason or undecided or "rule could not be evaluated")
    else:
        row.update(verdict=words[0] if ok else words[1], reason="")
    return row


def _cannot_tell(what: str, low: float, high: float, limit: str, unit: str = " points") -> str | None:
    """The reason of a verdict the seeds' bounds cannot decide: they straddle the rule's limit (None: no bounds)."""
    if not np.isfinite(low):
        return None
    if unit == "%":
        return f"the seeds cannot tell: {what}, {low:+.1%} to {high:+.1%}, straddles {limit}"
    return f"the seeds cannot tell: {what}, {low:+.1f} to {high:+.1f}{unit}, straddle {limit}"


def _phase_values(scalars: pd.DataFrame, dataset: str, phase: str, column: str) -> pd.Series:
    sub = scalars[(scalars["dataset"] == dataset) & (scalars["phase"] == phase)]
    return sub.set_index("seed")[column].dropna().sort_index()


def _negated(c: Comparison) -> Comparison:
    """The same comparison of −values (for an upper bound through :func:`lower_bound`)."""
    return dataclasses.replace(c, values=tuple(-v for v in c.values), mean=-c.mean)


def _datasets(scalars: pd.DataFrame, phases) -> list[str]:
    sub = scalars[scalars["phase"].isin(phases)]
    return ordered(sub["dataset"].dropna().tolist(), DATASET_ORDER)


# --------------------------------------------------------------------------------------------------- claims
def _c1(ctx: Context) -> list[dict]:
    scalars, cfg, rules = ctx.scalars, ctx.cfg, ctx.rules
    rows, tol = [], rules["dead_pct_tolerance"]
    for d in _datasets(scalars, ["topk"]):
        pm, _ = _mean_std(_paper(cfg, "dead_pct_topk", d))
        c = ctx.contrasts.get(CLAIMS["C1"].contrast, d, reference=pm)
        m, s, n = c.mean, c.std, c.n
        ok = bool(abs(m - pm) <= tol) if np.isfinite(pm) else None  # a fixed margin: our own spread never widens it
        row = _row("C1", d, "topk", c, paper_value=_paper_text(_paper(cfg, "dead_pct_topk", d), 1, " %"),
                   measured=_measured(m, s, n, 1, " %"),
                   test="one-sample t-test vs the paper's mean (informative); effect = Cohen's d",
                   tolerance=f"|measured - paper| <= {tol:g} points (claims.dead_pct_tolerance; fixed, not widened by "
                             "the seeds' spread)")
        rows.append(_decide(row, ok, n, rules, None if np.isfinite(pm) else "paper value missing from config"))
    return rows


def _c2(ctx: Context) -> list[dict]:
    scalars, cfg, rules = ctx.scalars, ctx.cfg, ctx.rules
    rows, tol, alpha = [], rules["dead_pct_tolerance"], rules["p_value"]
    for d in _datasets(scalars, ["topk", "l1"]):
        c = ctx.contrasts.get(CLAIMS["C2"].contrast, d)
        m, s, n = c.mean, c.std, c.n
        low, high = lower_bound(c, alpha), -lower_bound(_negated(c), alpha)
        # "L1 >= Top-k" needs evidence for it: the (1 - alpha) lower bound of mean(L1 - Top-k) above -tol; evidence
        # against it: the upper bound below -tol; neither: inconclusive (the seeds cannot tell)
        ok = None if not np.isfinite(low) else (True if low > -tol else False if high < -tol else None)
        pl, _ = _mean_std(_paper(cfg, "dead_pct_l1", d))
        pt, _ = _mean_std(_paper(cfg, "dead_pct_topk", d))
        paper = (f"L1 {pl:.1f} % >= Top-k {pt:.1f} % (difference {pl - pt:+.1f} points)"
                 if np.isfinite(pl) and np.isfinite(pt) else "L1 >= Top-k (values not in config)")
        row = _row("C2", d, "l1 - topk", c, paper_value=paper,
                   measured=_measured(m, s, n, 1, " points (L1 - Top-k)", signed=True),
                   test="paired t-test over seeds, L1 vs Top-k dead %; effect = Cohen's d_z",
                   tolerance=f"L1 >= Top-k within {tol:g} points, shown: the one-sided {1 - alpha:.0%} lower bound of "
                             f"mean(L1 - Top-k) > -{tol:g} (reproduced); its upper bound < -{tol:g}: not reproduced; "
                             f"else inconclusive. Bounds here: {_fmt(low, digits=1, signed=True)} / "
                             f"{_fmt(high, digits=1, signed=True)} points")
        missing = ("no seed with both Top-k and L1" if n == 0 else
                   "one seed: no confidence bound" if n == 1 else None)  # fmt: skip
        rows.append(_decide(row, ok, n, rules, missing, undecided=_cannot_tell(
            f"the {1 - alpha:.0%} bounds of mean(L1 - Top-k)", low, high, f"-{tol:g}")))
    return rows


def _c3(ctx: Context) -> list[dict]:
    scalars, cfg, rules = ctx.scalars, ctx.cfg, ctx.rules
    rows, alpha, rel_tol = [], rules["p_value"], rules["mig_relative_tolerance"]
    ref, where = reference_point(rules["mig_reference"])
    for d in _datasets(scalars, [ref, "topk"]):
        c = ctx.contrasts.get(cx.change("mig", ref), d)
        rel = ctx.contrasts.get(CLAIMS["C3"].contrast("mig", ref), d)
        m, s, n = rel.mean, rel.std, rel.n
        lo, hi = equivalence_interval(rel, alpha)
        detect = detectable_margin(rel, alpha)
        test = (f"equivalence test (TOST, two one-sided t-tests at {alpha:g}) of the per-seed relative MIG change "
                f"from k_start ({where}, claims.mig_reference = {rules['mig_reference']}) to k_end; effect = Cohen's "
                "d_z of the absolute change")
        if n >= 2:
            test += (f". What these {n} seeds can detect: the {1 - 2 * alpha:.0%} interval is {lo:+.1%} to "
                     f"{hi:+.1%}, so they show stability only for a margin of at least ±{detect:.1%}")
        ok = change_is_stable(rel, p_value=alpha, relative_tolerance=rel_tol)
        label = _paper(cfg, "mig_change", d)
        mig = _paper(cfg, "mig_topk", d)
        paper = "no statistically significant change (§4.2)"
        if label:
            paper += f"; Table 2: {label}"
        if mig is not None:
            paper += f"; MIG at k=50: {_paper_text(mig, 3)}"
        measured = (_measured(m * 100, s * 100, n, 1, " % (relative MIG change)", signed=True)
                    + (f"; absolute {c.mean:+.3f}" if c.n else ""))
        row = _row("C3", d, f"(topk - {ref}) / {ref}", c, rel, paper_value=paper, measured=measured, test=test,
                   tolerance=stable_rule(alpha, rel_tol) + " (claims.mig_relative_tolerance, claims.p_value)")
        missing = "no seed with both k_start and k_end" if c.n == 0 else (
            "MIG at k_start is 0: no relative change" if n == 0 else None)
        rows.append(_decide(row, ok, n, rules, missing, undecided=_cannot_tell(
            f"the {1 - 2 * alpha:.0%} interval of the relative change", lo, hi, f"the ±{rel_tol:.0%} margin", "%")))
    return rows


def _c4(ctx: Context) -> list[dict]:
    """Each paper method with a stage-3 history or an end-of-stage-3 evaluation: its relative MSE change over stage
    3, the contrast of Table 6's assessment (with its fallback to the evaluation files)."""
    cfg, rules = ctx.cfg, ctx.rules
    rows, tol = [], rules["mse_relative_tolerance"]
    h = ctx.histories if ctx.histories is not None and len(ctx.histories) else None
    ran = ctx.scalars[["dataset", "phase"]] if len(ctx.scalars) else pd.DataFrame(columns=["dataset", "phase"])
    if h is not None:
        h = h[h["stage"] == "sparsify"].dropna(subset=["mse", "epoch"])
        ran = pd.concat([h[["dataset", "phase"]], ran])
    for d in ordered(ran["dataset"].dropna().tolist(), DATASET_ORDER):
        for method in method_table.PAPER_METHODS:
            if not ((ran["dataset"] == d) & (ran["phase"] == method)).any():
                continue
            c = ctx.contrasts.get(CLAIMS["C4"].contrast(method), d)
            m, s, n = c.mean, c.std, c.n
            ok = no_increase_beyond(c, tol)
            rng = _paper(cfg, "mse_topk_range", d)
            paper = "stable, no degradation (Table 6" + (
                f": {float(rng[0]):.4f} - {float(rng[1]):.4f} across seeds at k=50)" if rng else ")")
            over = c.contrast == MSE_STAGE3
            row = _row("C4", d, method, c, paper_value=paper,
                       measured=_measured(m * 100, s * 100, n, 1, " % (relative MSE change "
                                          + ("over stage 3)" if over else "k_start -> k_end)"), signed=True),
                       test=("relative change of MSE, first vs last stage-3 epoch of history.csv" if over else
                             f"relative change of MSE, phase init vs phase {method} of the evaluation files (no run "
                             "with two stage-3 epochs)") + "; paired t-test (informative); effect = Cohen's d_z",
                       tolerance=f"no degradation: mean relative change <= +{tol:.0%} (one-sided: an improvement "
                                 "of any size passes)")
            rows.append(_decide(row, ok, n, rules, "fewer than 2 stage-3 epochs, and no seed evaluated at init and "
                                                   f"at {method}" if n == 0 else None))
    return rows


def _c5(ctx: Context) -> list[dict]:
    scalars, cfg, rules = ctx.scalars, ctx.cfg, ctx.rules
    rows, tol = [], rules["extended_change_tolerance"]
    for d in _datasets(scalars, ["topk_extended"]):
        c = ctx.contrasts.get(CLAIMS["C5"].contrast, d)
        m, s, n = c.mean, c.std, c.n
        pc = _paper(cfg, "extended_change_points", d)
        pc = float(pc) if pc is not None else math.nan
        final = _paper(cfg, "extended_dead_pct", d)
        start = _paper(cfg, "dead_pct_topk", d)
        paper = "n/a (not in config)" if not np.isfinite(pc) else f"{pc:+.1f} points"
        if final is not None and start is not None:
            paper += f" ({_paper_text(start)} -> {_paper_text(final)} %)"
        ok = bool(abs(m - pc) <= tol) if (n and np.isfinite(pc)) else None
        row = _row("C5", d, "topk_extended - topk", c, paper_value=paper,
                   measured=_measured(m, s, n, 1, " points", signed=True),
                   test="paired t-test of dead % before vs after extended training (informative); "
                        "effect = Cohen's d_z",
                   tolerance=f"|measured change - paper change| <= {tol:g} points")
        missing = ("no seed with both topk and topk_extended" if n == 0
                   else None if np.isfinite(pc) else "paper value missing from config")
        rows.append(_decide(row, ok, n, rules, missing))
    return rows


def _c6(ctx: Context) -> list[dict]:
    scalars, cfg, rules = ctx.scalars, ctx.cfg, ctx.rules
    rows, tol = [], rules["ratio_tolerance"]
    for method in method_table.PAPER_METHODS:
        cur = scalars[scalars["phase"] == method]
        if cur.empty:
            continue
        a = cur.loc[cur["dataset"] == "dsprites", "dead_pct"].dropna()
        b = cur.loc[cur["dataset"] == "shapes3d", "dead_pct"].dropna()
        c = ctx.contrasts.get(CLAIMS["C6"].contrast(method), "shapes3d")
        r, s, n = c.mean, c.std, c.n
        pr = _paper(cfg, "complexity_ratio", method)
        pr = float(pr) if pr is not None else math.nan
        dev = r / pr - 1 if np.isfinite(pr) and np.isfinite(r) else math.nan
        ok = bool(abs(dev) <= tol) if np.isfinite(dev) else None
        missing = None
        if a.empty or b.empty:
            missing = "needs both dSprites and Shapes3D"
        elif not np.isfinite(pr):
            missing = "paper value missing from config"
        elif a.mean() > 0 and 100.0 / a.mean() < pr * (1 - tol):
            # a dead % cannot pass 100: with dSprites this dead, no Shapes3D value reaches the paper's ratio
            missing = (f"the run cannot reach the paper's ratio: with dSprites at {a.mean():.1f} % dead, Shapes3D "
                       f"(at most 100 %) gives at most {100.0 / a.mean():.2f}x, below the rule's "
                       f"{pr * (1 - tol):.2f}x")
        row = _row("C6", "shapes3d / dsprites", method, c,
                   paper_value="n/a (not in config)" if not np.isfinite(pr) else f"{pr:g}x",
                   measured=_measured(r, s, n, 2, "x"), effect_size=dev,
                   test="ratio of mean dead % (std by error propagation); Welch t-test Shapes3D vs dSprites "
                        "(informative); effect = relative deviation from the paper's ratio",
                   tolerance=f"|measured / paper - 1| <= {tol:g}")
        rows.append(_decide(row, ok, n, rules, missing))
    return rows


def _c7(ctx: Context) -> list[dict]:
    sweep, cfg, rules = ctx.sweep, ctx.cfg, ctx.rules
    rows = []
    sw = sweep if sweep is not None else pd.DataFrame(columns=["dataset", "phase", "sae"])
    sw = sw[sw["sae"] == "conv"] if len(sw) else sw
    datasets = ordered(sw.loc[sw["phase"] == "topk", "dataset"].dropna().tolist(), DATASET_ORDER) if len(sw) else []
    for d in datasets:
        cur = sw[sw["dataset"] == d]
        seeds = sorted(set(cur.loc[cur["phase"] == "topk", "seed"]) & set(cur.loc[cur["phase"] == "init", "seed"]))
        n = len(seeds)
        checks, failed, untestable = {}, [], []
        for kind in ("dead", "specialization"):
            k = cur[(cur["kind"] == kind) & cur["seed"].isin(seeds)]
            means = k.groupby(["phase", "threshold"])["value"].mean().unstack("phase")
            if means.empty or not {"init", "topk"} <= set(means.columns):
                continue
            means = means.dropna(subset=["init", "topk"])
            # where k_start is already at the limit (100 % dead, or no specialized neuron), no collapse can show
            limit = means["init"] >= 100.0 if kind == "dead" else means["init"] <= 0
            untestable += [f"{kind} {thr:g}" for thr in means.index[limit]]
            means = means[~limit]
            holds = means["topk"] > means["init"] if kind == "dead" else means["topk"] < means["init"]
            checks[kind] = (int(holds.sum()), int(len(holds)))
            failed += [f"{kind} {thr:g}" for thr, h in holds.items() if not h]
        held = sum(v[0] for v in checks.values())
        total = sum(v[1] for v in checks.values())
        missing = None
        if n == 0:
            missing = "no init-phase (k_start) sweep rows to compare with"
        elif set(checks) != {"dead", "specialization"}:
            missing = "sweep lacks the " + " and ".join(sorted({"dead", "specialization"} - set(checks))) + " kind"
        measured = (f"collapse at {held}/{total} thresholds ("
                    + ", ".join(f"{kind} {v[0]}/{v[1]}" for kind, v in checks.items()) + f"; n={n} seeds)")
        if failed:
            measured += "; fails at " + ", ".join(failed)
        if untestable:
            measured += "; untestable (k_start at its limit) at " + ", ".join(untestable)
            if not failed and missing is None:
                missing = ("the collapse holds wherever it can show, but at " + ", ".join(untestable) + " k_start "
                           "is already at its limit (100 % dead, or no specialized neuron): the run cannot test "
                           "every threshold")
        thr = _paper(cfg, "threshold_ranges") or {}
        paper = "collapse at every threshold"
        if thr:
            paper += " (" + "; ".join(f"{k} {v[0]:g}-{v[1]:g}" for k, v in thr.items()) + ")"
        row = _row("C7", d, "topk vs init, conv SAE", paper_value=paper, measured=measured if total else "no data",
                   measured_mean=held / total if total else math.nan, measured_std=math.nan, n=n,
                   test="per threshold: mean over seeds at k_end vs k_start; statistic = thresholds where the "
                        "collapse holds; measured_mean = their fraction",
                   statistic=float(held) if total else math.nan, p_value=math.nan, effect_size=math.nan,
                   tolerance="dead % (k_end) > dead % (k_start) at every dead threshold AND specialized (k_end) < "
                             "specialized (k_start) at every specialization threshold (a threshold where k_start "
                             "is 100 % dead or has no specialized neuron cannot show it: untestable)")
        ok = bool(total and held == total) if not failed else False
        rows.append(_decide(row, ok, n, rules, None if failed else missing))
    return rows


def _c8(ctx: Context) -> list[dict]:
    scalars, cfg, rules = ctx.scalars, ctx.cfg, ctx.rules
    rows = []
    for d in _datasets(scalars, ["init", "topk"]):
        c = ctx.contrasts.get(CLAIMS["C8"].contrast, d)
        m, s, n = c.mean, c.std, c.n
        a, b = _paper(cfg, "specialized_init", d), _paper(cfg, "specialized_topk", d)
        paper = (f"{_paper_text(a, 0)} -> {_paper_text(b, 0)}" if a is not None and b is not None
                 else "fall (values not in config)")
        row = _row("C8", d, "topk - init", c, paper_value=paper,
                   measured=_measured(m, s, n, 0, " neurons (k_end - k_start)", signed=True)
                   + (f"; {c.mean_a:,.0f} -> {c.mean_b:,.0f}" if n else ""),
                   test="paired t-test over seeds, specialized at k_start vs k_end (informative); "
                        "effect = Cohen's d_z",
                   tolerance="mean specialized at k_end < mean at k_start")
        missing = "no seed with both k_start and k_end" if n == 0 else None
        if n and c.mean_a <= 0:
            missing = "no specialized neuron at k_start in any seed: nothing can fall, the run cannot test the claim"
        rows.append(_decide(row, bool(m < 0) if n else None, n, rules, missing))
    return rows


def remedies_present(scalars: pd.DataFrame) -> list[str]:
    """The remedies (methods of the methods table that are not the paper's) with an end-of-stage-3 evaluation, in
    table order."""
    if scalars is None or scalars.empty:
        return []
    present = set(scalars["phase"].dropna())
    return [m for m in method_table.remedies() if m in present]


NOT_IN_PAPER = "not in the paper (it runs Top-k and L1 only)"


def _c9_summary(details: list[dict]) -> str:
    """C9's claim-level "measured": in how many (remedy, dataset) runs the collapse persists, and which do not."""
    def runs(verdict):
        return [f"{method_label(r['condition'])} on {dataset_label(r['dataset'])}" for r in details
                if r["verdict"] == verdict]

    out = f"collapse persists in {len(runs(SUPPORTED))} of {len(details)} remedy runs (remedy × dataset)"
    for verdict in (CONTRADICTED, INCONCLUSIVE, NOT_COMPARABLE):
        if runs(verdict):
            out += f"; {verdict}: {', '.join(runs(verdict))}"
    return out


def _l0(scalars: pd.DataFrame, dataset: str, phase: str) -> float:
    """Mean over seeds of the evaluation L0 (active neurons per sample on ã, ``active_topk``)."""
    if "active_topk" not in scalars:
        return math.nan
    return summarize(_phase_values(scalars, dataset, phase, "active_topk"))[0]


DECODER_NORMS = {"topk_auxk": "unit-norm decoder columns (Top-k has none)"}


def _c9(ctx: Context) -> list[dict]:
    """C9: one row per (remedy, dataset) with an end-of-stage-3 evaluation; the rule is ``claims.remedies``.

    At matched L0 only: a remedy whose mean evaluation L0 differs from the baseline's by more than
    ``l0_match_tolerance`` (relative) keeps a different number of active neurons, so its dead % is not comparable
    (verdict "not comparable"). Otherwise the paired reduction r_s = dead %(baseline) − dead %(remedy) decides: the
    one-sided (1 − p_value) lower bound of r̄ above ``reduction_points``: contradicted (the remedy prevents that much
    of the collapse, shown); the upper bound below it: supported (the collapse persists, shown); else inconclusive.
    A baseline whose own mean dead % is below ``collapse_dead_pct`` has no collapse to persist: inconclusive.
    """
    scalars, rules, remedy_rules = ctx.scalars, ctx.rules, ctx.remedy_rules
    rows = []
    alpha = rules["p_value"]
    floor, baseline = remedy_rules["collapse_dead_pct"], remedy_rules["baseline"]
    margin, l0_tol = remedy_rules["reduction_points"], remedy_rules["l0_match_tolerance"]
    for method in remedies_present(scalars):
        for d in _datasets(scalars, [method]):
            m, s, n = summarize(_phase_values(scalars, d, method, "dead_pct"))
            base_m = summarize(_phase_values(scalars, d, baseline, "dead_pct"))[0]
            c = ctx.contrasts.get(CLAIMS["C9"].contrast("dead_pct", method, baseline), d)  # baseline - remedy
            low, high = lower_bound(c, alpha), -lower_bound(_negated(c), alpha)
            l0_r, l0_b = _l0(scalars, d, method), _l0(scalars, d, baseline)
            l0_dev = l0_r / l0_b - 1 if np.isfinite(l0_r) and np.isfinite(l0_b) and l0_b > 0 else math.nan
            measured = _measured(m, s, n, 1, " % dead at k_end")
            measured += (f"; reduction vs {method_label(baseline)}: "
                         + _measured(c.mean, c.std, c.n, 1, " points", signed=True)
                         if c.n else f"; no seed with a {method_label(baseline)} run to compare")
            if np.isfinite(l0_dev):
                measured += f"; evaluation L0 {l0_r:.1f} vs {l0_b:.1f} ({l0_dev:+.0%})"
            norms = DECODER_NORMS.get(method)
            row = _row("C9", d, method, c, paper_value=NOT_IN_PAPER,
                       measured=measured + (f"; note: {norms}" if norms else ""), measured_mean=m, measured_std=s,
                       n=n, test=f"paired by seed against {method_label(baseline)} (claims.remedies.baseline) at "
                                 "matched evaluation L0: reduction of dead % (baseline − remedy), one-sided "
                                 f"{1 - alpha:.0%} bounds; paired t-test (informative); effect = Cohen's d_z",
                       tolerance=f"L0 within ±{l0_tol:.0%} of the baseline's (else not comparable); the collapse "
                                 f"persists when the upper bound of the reduction < {margin:g} points, is prevented "
                                 f"when its lower bound > {margin:g} points (claims.remedies.reduction_points); "
                                 f"bounds here {_fmt(low, digits=1, signed=True)} / "
                                 f"{_fmt(high, digits=1, signed=True)}")  # fmt: skip
            missing = None
            if n == 0:
                missing = "no dead % at k_end"
            elif c.n == 0:
                missing = f"no seed with a {method_label(baseline)} run to compare"
            elif not np.isfinite(l0_dev):
                missing = "no evaluation L0 to match"
            elif _few_seeds(n, rules):
                missing = _few_seeds(n, rules)
            elif c.n == 1:
                missing = "one paired seed: no confidence bound"
            elif base_m < floor:
                missing = (f"no collapse to persist: {method_label(baseline)} itself has {base_m:.1f} % dead "
                           f"(< claims.remedies.collapse_dead_pct = {floor:g})")
            far = (f"not comparable: evaluation L0 {l0_r:.1f} vs {l0_b:.1f} ({l0_dev:+.0%}, beyond ±{l0_tol:.0%})"
                   if missing is None and abs(l0_dev) > l0_tol else None)
            ok = None if not np.isfinite(low) else (False if low > margin else True if high < margin else None)
            rows.append(_decide(row, ok, n, rules, missing, words=(SUPPORTED, CONTRADICTED), undecided=_cannot_tell(
                "the reduction's bounds", low, high, f"{margin:g}"), not_comparable=far))
    return rows


def _c8_forced(scalars: pd.DataFrame, dataset: str) -> str:
    """C8 is forced when the bound at k_end (from the measured activation budget) is below the count at k_start."""
    if "specialized_bound" not in scalars:
        return "unknown: no bound in the evaluations"
    bound = _phase_values(scalars, dataset, "topk", "specialized_bound")
    start = _phase_values(scalars, dataset, "init", "specialized")
    if bound.empty or start.empty:
        return "unknown: no bound or no k_start count"
    b, a = float(bound.mean()), float(start.mean())
    if b < a:
        return (f"forced by the metric: at k_end at most {b:,.0f} neurons can be specialized (activation-budget "
                f"bound), below the {a:,.0f} measured at k_start, so the count must fall whatever training does")
    return f"finding: the bound at k_end ({b:,.0f}) does not force a fall from {a:,.0f}"


def _floor_label(scalars: pd.DataFrame, dataset: str, phase: str, tol: float) -> str:
    """C1 and the other dead-% claims: how much of the measured dead % the activation budget forces
    (``dead_floor``, :mod:`vaesae.metrics.dead_floor`)."""
    if "dead_floor" not in scalars:
        return "unknown: no dead-% floor in the evaluations"
    floor = _phase_values(scalars, dataset, phase, "dead_floor")
    dead = _phase_values(scalars, dataset, phase, "dead_pct")
    if floor.empty or dead.empty:
        return "unknown: no dead-% floor for this phase"
    f, m = float(floor.mean()), float(dead.mean())
    if f <= 0:
        return (f"finding: the activation budget forces no dead neuron at this dead threshold (floor 0 %; "
                f"measured {m:.1f} %)")
    if m - f <= tol:
        return (f"forced by the metric: the budget forces at least {f:.1f} % dead, within {tol:g} points of the "
                f"{m:.1f} % measured")
    return f"partly forced: at least {f:.1f} % of the {m:.1f} % dead is forced by the activation budget"


def _c7_label(row: dict, ctx: Context) -> str:
    """C7 per threshold: forced where the floor at k_end exceeds the dead % at k_start (dead thresholds) or the bound
    at k_end is below the count at k_start (specialization thresholds)."""
    sweep, dataset = ctx.sweep, row["dataset"]
    if sweep is None or sweep.empty:
        return "unknown: no sweep"
    sw = sweep[(sweep["dataset"] == dataset) & (sweep["sae"] == "conv")]

    def means(phase, kind):
        cur = sw[(sw["phase"] == phase) & (sw["kind"] == kind)]
        return cur.groupby(["threshold", "seed"])["value"].mean().groupby("threshold").mean()

    checks = (("dead", means("topk", "dead_floor"), means("init", "dead"), lambda lim, start: lim > start),
              ("specialization", means("topk", "specialization_bound"), means("init", "specialization"),
               lambda lim, start: lim < start))  # fmt: skip
    forced, total, known = [], 0, 0
    for kind, limit, start, binds in checks:
        total += len(start)
        for t, v in start.items():
            if t in limit.index:
                known += 1
                if binds(limit[t], v):
                    forced.append(f"{kind} {t:g}")
    if known == 0:
        return "unknown: the sweep has no floor or bound rows"
    if not forced:
        return f"finding: the budgets at k_end force the collapse at none of the {total} thresholds"
    if len(forced) == total:
        return f"forced by the metric at every one of the {total} thresholds"
    return (f"partly forced: the budgets at k_end force the collapse at {len(forced)} of {total} thresholds "
            f"({', '.join(forced)}); a finding at the rest")


def _control_label(value: float, control: float, what: str, tol: float, name: str) -> str:
    if not (np.isfinite(value) and np.isfinite(control)):
        return f"unknown: the stop-gradient control ({name}) has no {what} change to compare"
    if abs(value - control) <= tol:
        return (f"forced by the architecture: the stop-gradient control ({name}), whose SAEs send no gradient into "
                f"the encoder, changes {what} by {control:+.1%} against {value:+.1%} jointly (within ±{tol:.0%}), so "
                f"the SAE's collapse does not reach {what}")
    return (f"finding: {what} changes by {value:+.1%} jointly and {control:+.1%} under the stop-gradient control "
            f"({name}): the SAEs' gradients move it")


UNTESTED = ("untested: {what} is the VAE's; the SAEs reach it only through their gradients into the encoder, and "
            "without the stop-gradient control (workflow/presets/stop-gradient.yaml) this run cannot tell whether "
            "their collapse could move it")


def _controls_present(scalars: pd.DataFrame) -> list[str]:
    present = set(scalars["phase"].dropna()) if len(scalars) else set()
    return [m for m in method_table.controls() if m in present]


def _c3_label(row: dict, ctx: Context) -> str:
    """C3 against the stop-gradient control: C3's relative MIG change, jointly and under the control."""
    dataset = row["dataset"]
    ref, _ = reference_point(ctx.rules["mig_reference"])
    controls = _controls_present(ctx.scalars)
    if not controls:
        return UNTESTED.format(what="MIG")
    name = controls[0]
    joint, control = (ctx.contrasts.get(CLAIMS["C3"].contrast("mig", ref, phase), dataset).mean
                      for phase in ("topk", name))
    return _control_label(joint, control, "MIG", ctx.rules["mig_relative_tolerance"], method_label(name))


def _c4_label(row: dict, ctx: Context) -> str:
    """C4 against the stop-gradient control: C4's MSE change over stage 3, jointly and under the control."""
    dataset, method = row["dataset"], row["condition"]
    controls = _controls_present(ctx.scalars)
    if ctx.histories is not None and len(ctx.histories):
        controls = controls or [m for m in method_table.controls() if m in set(ctx.histories["phase"].dropna())]
    if not controls:
        return UNTESTED.format(what="the MSE")
    name = controls[0]
    joint, control = (ctx.contrasts.get(CLAIMS["C4"].contrast(m), dataset).mean for m in (method, name))
    return _control_label(joint, control, "the MSE", ctx.rules["mse_relative_tolerance"], method_label(name))


def _at_init_label(scalars: pd.DataFrame, dataset: str) -> str:
    """How much of the k_start death was there before any SAE step (phase ``init_start``, stage 2's epoch −1), and
    the input geometry γ behind it."""
    if "conv_input_gamma" not in scalars:
        return "k_start death before any SAE step: unknown (no evaluation before stage 2's first step)"
    before = summarize(_phase_values(scalars, dataset, AT_INIT, "dead_pct"))[0]
    after = summarize(_phase_values(scalars, dataset, "init", "dead_pct"))[0]
    if not np.isfinite(before):
        return "k_start death before any SAE step: unknown (no evaluation before stage 2's first step)"
    centred = summarize(_phase_values(scalars, dataset, AT_INIT, "dead_pct_centred"))[0]
    gamma = summarize(_phase_values(scalars, dataset, AT_INIT, "conv_input_gamma"))[0]
    share = f", {before / after:.0%} of the {after:.1f} % at the end of stage 2" if np.isfinite(after) and after else ""
    return (f"k_start death before any SAE step: {before:.1f} % dead{share}; {centred:.1f} % on the centred input, "
            f"h_flat's γ = ‖mean‖/‖std‖ = {gamma:.2f}")


# The forced/finding label of one detail row, per claim (the claim row's ``label``), computed from this run's
# bounds, floors and controls. The claims on dead neurons and specialization (C1, C2, C6, C8) also say how much of the
# death was there before any SAE step.
def _c1_label(row: dict, ctx: Context) -> str:
    return (_floor_label(ctx.scalars, row["dataset"], "topk", ctx.rules["dead_pct_tolerance"]) + "; "
            + _at_init_label(ctx.scalars, row["dataset"]))


def _c2_label(row: dict, ctx: Context) -> str:
    tol = ctx.rules["dead_pct_tolerance"]
    a, b = (_floor_label(ctx.scalars, row["dataset"], phase, tol) for phase in method_table.PAPER_METHODS)
    return f"Top-k: {a}; L1: {b}; {_at_init_label(ctx.scalars, row['dataset'])}"


def _c5_label(row: dict, ctx: Context) -> str:
    return ("finding: the change under extended training at the same k; the floor is the same before and after ("
            + _floor_label(ctx.scalars, row["dataset"], "topk_extended", ctx.rules["dead_pct_tolerance"]) + ")")


def _c6_label(row: dict, ctx: Context) -> str:
    return ("finding: a ratio of two dead %s; each is " +
            "; ".join(f"{dataset_label(d)} "
                      f"{_floor_label(ctx.scalars, d, row['condition'], ctx.rules['dead_pct_tolerance'])} "
                      f"({_at_init_label(ctx.scalars, d)})"
                      for d in DATASET_ORDER))  # fmt: skip


def _c8_label(row: dict, ctx: Context) -> str:
    return f"{_c8_forced(ctx.scalars, row['dataset'])}; {_at_init_label(ctx.scalars, row['dataset'])}"


def _c9_label(row: dict, ctx: Context) -> str:
    return ("finding: dead % compared with the baseline's at matched L0 (the same floor)"
            if row["verdict"] != NOT_COMPARABLE else "not comparable: another L0 gives another floor")


#: The per-arm "bounds here" suffix of a rule text, which a claim row over several arms must not show as its own.
_BOUNDS_TEXT = re.compile(r"[.;] [Bb]ounds here:? [^;]*$")


def _ours(claim: str) -> bool:
    """The claim is the pipeline's own question (catalog origin ``pipeline``), not the paper's."""
    return CLAIMS[claim].origin == catalog.PIPELINE


def _combine(claim: str, details: list[dict]) -> dict:
    row = {col: None for col in COLUMNS}
    row.update({"claim": claim, "level": "claim", "description": CLAIMS[claim].title, "dataset": "all"})
    if not details:
        row.update(verdict=INCONCLUSIVE, reason="no data for this claim in this run", measured="no data",
                   paper_value="", n=0, measured_mean=math.nan, measured_std=math.nan)
        return row
    verdicts = [r["verdict"] for r in details if r["verdict"] != NOT_COMPARABLE]
    yes, no = (SUPPORTED, CONTRADICTED) if _ours(claim) else (REPRODUCED, NOT_REPRODUCED)
    if not verdicts:  # C9: every remedy ran at another L0
        verdict, reason = INCONCLUSIVE, "no remedy ran at the baseline's L0: none is comparable"
    elif no in verdicts:
        verdict, reason = no, ""
    elif INCONCLUSIVE in verdicts:
        verdict = INCONCLUSIVE
        reason = "; ".join(sorted({r["reason"] for r in details if r["verdict"] == INCONCLUSIVE and r["reason"]}))
    else:
        verdict, reason = yes, ""

    def name(r):
        label = dataset_label(r["dataset"]) if r["dataset"] in DATASET_ORDER else r["dataset"]
        return f"{label} {method_label(r['condition'])}" if CLAIMS[claim].per_method else label

    one = len(details) == 1
    row.update(
        condition="; ".join(dict.fromkeys(str(r["condition"]) for r in details)),
        paper_value="; ".join(f"{name(r)}: {r['paper_value']}" for r in details),
        measured="; ".join(f"{name(r)}: {r['measured']}" for r in details),
        measured_mean=details[0]["measured_mean"] if one else math.nan,
        measured_std=details[0]["measured_std"] if one else math.nan,
        n=min(int(r["n"]) for r in details),
        test=details[0]["test"], statistic=details[0]["statistic"] if one else math.nan,
        p_value=details[0]["p_value"] if one else math.nan, effect_size=details[0]["effect_size"] if one else math.nan,
        tolerance=details[0]["tolerance"] if one else _BOUNDS_TEXT.sub("", str(details[0]["tolerance"])),
        verdict=verdict, reason=reason,
    )
    return row


def judge(claim: Claim, ctx: Context) -> list[dict]:
    """The detail rows of one claim, each with its verdict and reason (set by :func:`_decide`) and its
    finding-or-artefact label (the claim row's ``label``)."""
    rows = claim.rows(ctx)
    for row in rows:
        row["forced"] = claim.label(row, ctx)
        row["origin"] = ORIGIN_TEXT[claim.origin]
    return rows


def evaluate_claims(scalars: pd.DataFrame, histories: pd.DataFrame | None, sweep: pd.DataFrame | None,
                    cfg: dict[str, Any] | None) -> pd.DataFrame:
    """Verdicts on C1-C8 and, where a remedy ran, C9: a claim-level row per claim (dataset "all"), then its
    per-dataset/method details (:func:`judge`).

    ``cfg`` is the config's ``claims:`` mapping (tolerance rules, the ``paper`` block of reported values and C9's
    ``remedies`` block).
    """
    ctx = context(scalars, histories, sweep, cfg)
    rows = []
    for claim in CLAIMS.values():
        det = judge(claim, ctx)
        if not det and claim.optional:  # an optional claim (C9: only where a remedy ran) is left out without rows
            continue
        top = _combine(claim.id, det)
        if claim.summary is not None:
            top.update(paper_value=NOT_IN_PAPER, measured=claim.summary(det))
        top["origin"] = ORIGIN_TEXT[claim.origin]
        forced = list(dict.fromkeys(r["forced"] for r in det))
        top["forced"] = ("no data: nothing to label" if not forced else forced[0] if len(forced) == 1 else "; ".join(
            f"{dataset_label(r['dataset'])}: {r['forced']}" for r in det))
        rows += [top, *det]
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in ("measured_mean", "measured_std", "statistic", "p_value", "effect_size"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["n"] = pd.to_numeric(df["n"], errors="coerce").fillna(0).astype("int64")
    df["reason"] = df["reason"].fillna("")
    return df


# --------------------------------------------------------------------------------------------------- the claims
@dataclass(frozen=True)
class Claim:
    """One claim, as a row of :data:`CLAIMS` (the function objects themselves, so an IDE follows them).

    id:        ``C1`` ...
    title:     the statement (claims.csv's ``description``)
    short:     the claim in a few words, for the verdict table at the top of claims.md
    rows:      ``rows(ctx) -> [detail row]``, one per dataset (or method), each decided by :func:`_decide`
    label:     ``label(row, ctx) -> str``: is the row a finding, or forced by the metric or the architecture?
    contrast:  the comparison it judges (:mod:`vaesae.report.contrasts`; the tables read the same one), or the
               function that builds it from a method or a config key; None for C7 (per-threshold means of the sweep)
    origin:    ``catalog.PAPER`` or ``catalog.PIPELINE`` (a question beyond the paper)
    optional:  left out of the report when it has no row (C9 without a remedy)
    summary:   a question beyond the paper: its claim-level "measured" from its detail rows
    per_method: its detail rows are per method (C4, C6, C9), so the report names the method beside the dataset
    """

    id: str
    title: str
    short: str
    rows: Callable[[Context], list[dict]]
    label: Callable[[dict, Context], str]
    contrast: Any = None
    origin: str = catalog.PAPER
    optional: bool = False
    summary: Callable[[list[dict]], str] | None = None
    per_method: bool = False

    @property
    def name(self) -> str:
        return self.short or self.title


#: Every claim, in report order: the paper's C1-C8 (shared/reference/method-notes.md), then the pipeline's own C9.
CLAIMS = Catalog("claim", r"C[0-9]+")
for _claim in (
    Claim("C1", "Top-k dead % (conv SAE) at k_end matches the paper", "Top-k dead % at k_end", _c1, _c1_label,
          cx.DEAD_VS_PAPER),
    Claim("C2", "L1 gives equal or more dead neurons than Top-k", "L1 dead % ≥ Top-k's", _c2, _c2_label,
          cx.DEAD_L1_VS_TOPK),
    Claim("C3", "MIG at k_end is not significantly different from MIG at k_start (stable global metric)",
          "MIG stable from k_start to k_end", _c3, _c3_label, cx.relative),
    Claim("C4", "Validation MSE stays stable through stage 3 (no degradation as neurons die)", "MSE stable in stage 3",
          _c4, _c4_label, cx.mse_over_stage3, per_method=True),
    Claim("C5", "Extended training at k_end changes dead % as the paper reports (no real recovery)",
          "dead % change in extended training", _c5, _c5_label, cx.DEAD_EXTENDED),
    Claim("C6", "Complexity scaling: dead % Shapes3D / dSprites matches the paper's ratio",
          "dead % ratio Shapes3D / dSprites", _c6, _c6_label, cx.complexity_ratio, per_method=True),
    Claim("C7", "Collapse (more dead AND fewer specialized at k_end than at k_start) holds at every swept threshold",
          "collapse at every threshold", _c7, _c7_label),
    Claim("C8", "Specialized-neuron counts fall from k_start to k_end", "specialized neurons fall", _c8, _c8_label,
          cx.SPECIALIZED_FALL),
    Claim("C9", "Beyond the paper: the collapse persists under every dead-latent remedy (at matched L0, no remedy cuts "
                "Top-k's dead % at k_end by more than the margin)", "collapse persists under every remedy", _c9,
          _c9_label, cx.change, origin=catalog.PIPELINE, optional=True, summary=_c9_summary, per_method=True),
):  # fmt: skip
    CLAIMS.register(_claim)
del _claim


# --------------------------------------------------------------------------------------------------- markdown
def verdict_text(verdict: str, reason: str = "") -> str:
    """``reproduced`` / ``not reproduced`` / ``inconclusive (too few seeds)`` ..."""
    if verdict == INCONCLUSIVE and reason:
        short = reason.split(" (")[0] if reason.startswith("too few seeds") else reason
        return f"inconclusive ({short})"
    return verdict


def beyond_the_paper_markdown(df: pd.DataFrame) -> list[str]:
    """The "Beyond the paper" section of claims.md: C9's verdict and its rows, or that no remedy ran."""
    remedies = method_table.remedies()
    names = ", ".join(f"{method_label(m)} (`{m}`)" for m in remedies)
    out = ["", "## Beyond the paper: the pipeline's own question (C9)", "",
           "**Not a claim of the paper**, which runs Top-k and L1 only: C9 asks whether the collapse persists under "
           f"the dead-latent remedies of the SAE literature that the pipeline adds ({names}). Its verdicts are "
           "*supported* (the collapse persists), *contradicted* or *inconclusive*, and are not counted with the "
           "paper's claims above. Table 8 and Figure 12 show every method side by side.", ""]
    top = df[df["level"] == "claim"] if len(df) else df
    det = df[df["level"] == "detail"] if len(df) else df
    ran = list(dict.fromkeys(det["condition"])) if len(det) else []
    if not len(top):
        return out + ["C9: **not run**: this run's `methods:` has no remedy. Add one or more of "
                      + ", ".join(f"`{m}`" for m in remedies) + " to `methods:` to ask it."]
    out.append(md_table(["Question", "Statement", "Measured", "Rule", "Verdict"],
                        [[r.claim, r.description, r.measured or "", r.tolerance or "",
                          f"**{verdict_text(r.verdict, r.reason)}**"] for r in top.itertuples()]))
    out += ["", md_table(
        ["Remedy", "Dataset", "Measured (dead % at k_end; change vs baseline, paired by seed)", "Statistic", "p",
         "Effect", "Verdict"],
        [[method_label(r.condition), dataset_label(r.dataset), r.measured or "", *_test_cells(r),
          verdict_text(r.verdict, r.reason)] for r in det.itertuples()])]
    missing = [m for m in remedies if m not in ran]
    if missing:
        out += ["", "Not run in this run: " + ", ".join(f"{method_label(m)} (`{m}`)" for m in missing) + "."]
    if len(det):
        out += ["", f"Test: {det.iloc[0]['test']}."]
    return out


ZERO_SPREAD = "n/a (zero spread)"


def _test_cells(r) -> list[str]:
    """The statistic, p and effect cells of a detail row. A t statistic of ±inf means the seeds' differences are
    equal and non-zero (zero spread): report/stats.py then sets p = 0 and the effect to ±inf, the limit of the
    formula, which a reader would take at face value. Those cells read ``n/a (zero spread)`` and ``n/a`` here;
    claims.csv keeps the numbers."""
    if r.statistic is not None and np.isinf(r.statistic):
        effect = r.effect_size
        return [ZERO_SPREAD, "n/a", "n/a" if effect is not None and np.isinf(effect) else _num(effect)]
    return [_num(r.statistic), _num(r.p_value), _num(r.effect_size)]


def _num(value, digits=3) -> str:
    if value is None or np.isnan(value):
        return ""
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    if abs(value) >= 1e4 or (0 < abs(value) < 1e-3):
        return f"{value:.2e}"
    return f"{value:.{digits}g}"


#: The longest a cell of the verdict table at the top of claims.md may be before its parentheticals are dropped
#: (the full text is in the claim's section and in claims.csv).
SHORT_CELL = 40


def _top_level_split(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` where no parenthesis is open."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
    return [*parts, text[start:]]


def short_cell(text: str | None) -> str:
    """A cell of the verdict table: the first clause of ``text`` (up to a top-level "; "), and when that is longer
    than :data:`SHORT_CELL`, without its parentheticals other than the seed count ("(n=3)")."""
    first = _top_level_split(str(text or ""), "; ")[0].strip()
    if len(first) <= SHORT_CELL:
        return first
    kept = re.sub(r" \((?!n=)[^()]*(\([^()]*\)[^()]*)*\)", "", first)
    return kept.strip() or first


def short_verdict(verdict: str, reason: str = "") -> str:
    """The verdict in a few words: an inconclusive verdict with the head of its reason (up to ":", " (" or ", ")."""
    if verdict != INCONCLUSIVE or not reason:
        return verdict
    head = re.split(r":| \(|, ", reason, maxsplit=1)[0].strip()
    return f"{verdict} ({head})"


def _where(r) -> str:
    """The dataset cell of a detail row (a claim judged per method names its method too)."""
    label = dataset_label(r.dataset) if r.dataset in DATASET_ORDER else " / ".join(
        dataset_label(d.strip()) for d in str(r.dataset).split("/"))
    return f"{label}, {method_label(r.condition)}" if CLAIMS[r.claim].per_method else label


def claims_markdown(df: pd.DataFrame, contradictions: list[str] | None = None, audit: list[str] | None = None,
                    data_note: str | None = None, gates: list[str] | None = None) -> str:
    """claims.md, for a reader who opens it for the verdicts: first the verdict table (one short row per claim and
    dataset: claim, paper, measured, verdict; the full texts are in the claim's section), then the convergence gates
    (``vaesae.report.gates.gates_markdown``, when given), then each claim's section (statement, verdict, reason,
    "finding or artefact?", and per dataset the test, statistic, rule and verdict), the pipeline's own question C9
    in a section of its own ("Beyond the paper"; a "not run" note when no remedy ran), the audit sections
    (``vaesae.report.audit``) and the paper's internal contradictions. claims.csv keeps every field."""
    pipeline = ORIGIN_TEXT[catalog.PIPELINE]
    origin = df["origin"] if "origin" in df.columns else pd.Series(ORIGIN_TEXT[catalog.PAPER], index=df.index)
    ours = df[origin == pipeline]
    df = df[origin != pipeline]
    top = df[df["level"] == "claim"]
    det = df[df["level"] == "detail"]
    counts = top["verdict"].value_counts()
    rows = []
    for t in top.itertuples():
        link = f"[{t.claim}](#{t.claim.lower()}) {CLAIMS[t.claim].name}"
        sub = det[det["claim"] == t.claim]
        if not len(sub):
            rows.append([link, "–", short_cell(t.paper_value), short_cell(t.measured),
                         f"**{short_verdict(t.verdict, t.reason)}**"])
        for r in sub.itertuples():
            rows.append([link, _where(r), short_cell(r.paper_value), short_cell(r.measured),
                         f"**{short_verdict(r.verdict, r.reason)}**"])
    out = [
        "# Claims of the paper: verdicts of this run",
        "",
        f"{counts.get(REPRODUCED, 0)} reproduced, {counts.get(NOT_REPRODUCED, 0)} not reproduced, "
        f"{counts.get(INCONCLUSIVE, 0)} inconclusive (of {len(top)} claims). Measured: mean ± std over seeds (n = "
        "number of seeds). Each claim's section below gives its statement, test, rule and reasons; the rules are the "
        "config's `claims:` keys.",
        "",
        *([f"**{data_note}**", ""] if data_note else []),
        md_table(["Claim", "Dataset", "Paper", "Measured", "Verdict"], rows),
        "",
        *([*gates, ""] if gates else []),
        "## Details per dataset",
    ]
    if not len(top):
        out += ["", "_No per-dataset results in this run._"]
    for t in top.itertuples():
        sub = det[det["claim"] == t.claim]
        out += ["", f"### {t.claim}", "",
                f"**{t.description}.** Verdict: **{verdict_text(t.verdict, t.reason)}**.", "",
                f"- Paper: {t.paper_value or 'n/a'}", f"- Measured: {t.measured or 'n/a'}",
                f"- Finding or artefact? {t.forced or 'n/a'}", ""]
        out.append(md_table(
            ["Dataset", "Condition", "Paper", "Measured", "Test", "Statistic", "p", "Effect", "Rule", "Verdict"],
            [[dataset_label(r.dataset), r.condition or "", r.paper_value or "", r.measured or "", r.test or "",
              *_test_cells(r), r.tolerance or "", verdict_text(r.verdict, r.reason)] for r in sub.itertuples()],
        ) if len(sub) else "_No per-dataset results for this claim in this run._")
    out += beyond_the_paper_markdown(ours)
    out += list(audit or [])
    out += ["", "## The paper's internal contradictions", "",
            "Reported as found in the paper, not resolved; the verdicts above compare with the values in the "
            "config's `claims.paper` block.", ""]
    items = list(contradictions or [])
    out += [f"- {c}" for c in items] if items else ["- (none listed in the config)"]
    return "\n".join(out) + "\n"
