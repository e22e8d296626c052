"""What each metric can reach, and what revival did: the audit sections of ``claims.md``.

Bound audit. A neuron firing on a fraction p of samples has MI <= h(p) + p·ln(n_bins) nats with any factor, so a
normalised MI above τ needs p > p*(τ, H_min), and with A active neurons per sample (A <= k under Top-k) at most
A / p* neurons can be specialized (:mod:`vaesae.metrics.bound`). For every count the paper reports at a known k
(``claims.paper``) the audit computes that bound with A = k, the paper's n_bins and the entropy of the smallest
factor of the real dataset (uniform classes: ln 3 for dSprites' shape, ln 4 for Shapes3D's), and lists every
reported count above its bound as a contradiction, with the arithmetic. Next to them stand this run's counts and the
bounds from its measured budgets, for the ã reading (``topk``) and the pre-Top-k reading (``pre_topk``).

Revival audit. From the epoch table: how many neurons were boosted and by how much against the spread of their
pre-activations, how many were re-initialised, and how many of those were alive one and five epochs later. The
paper's "despite revival" is a finding only where revival revived something.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from vaesae.metrics.bound import specialization_bound
from vaesae.report.markdown import md_table
from vaesae.report.stats import DATASET_ORDER, ordered
from vaesae.report.style import dataset_label

#: Phases whose counts the audit shows, with the k they are reported at.
AUDIT_PHASES = (("init", "k_start (end of stage 2)"), ("topk", "k_end (end of stage 3)"))


def _paper_counts(paper: dict, dataset: str) -> list[tuple[str, float, str, float]]:
    """(what, count, at, tau) of each count the paper reports for ``dataset`` at a known k."""
    b = paper.get("bound") or {}
    k_start, k_end, tau = b.get("k_start"), b.get("k_end"), b.get("threshold", 0.5)
    out = []

    def first(value):
        if value is None:
            return None
        return float(value[0] if isinstance(value, (list, tuple)) else value)

    for key, label, k in (("specialized_table1", "Table 1, Top-k", k_end), ("specialized_topk", "Table 2, k=50",
                          k_end), ("specialized_init", "Table 2, k=500", k_start)):  # fmt: skip
        v = first((paper.get(key) or {}).get(dataset))
        if v is not None and k is not None:
            out.append((label, v, k, tau))
    for t, v in ((paper.get("specialized_by_threshold") or {}).get(dataset) or {}).items():
        if k_end is not None:
            out.append((f"Table 4, threshold {float(t):g}", float(v), k_end, float(t)))
    return out


def paper_bounds(cfg: dict) -> pd.DataFrame:
    """One row per count the paper reports at a known k: the count, its bound with budget k, and the arithmetic."""
    paper = (cfg or {}).get("paper") or {}
    b = paper.get("bound") or {}
    cols = ["dataset", "source", "k", "threshold", "paper", "bound", "ruled_out", "budget_needed", "arithmetic"]
    classes = b.get("smallest_factor_classes") or {}
    rows = []
    for dataset in ordered(list(classes), DATASET_ORDER):
        h_min = math.log(float(classes[dataset]))
        for label, value, k, tau in _paper_counts(paper, dataset):
            res = specialization_bound(float(k), tau, h_min, int(b.get("n_bins", 20)), b.get("n_neurons"))
            rows.append({"dataset": dataset, "source": label, "k": k, "threshold": tau, "paper": value,
                         "bound": res.bound, "ruled_out": bool(value > res.bound),
                         "budget_needed": value * res.p_star, "arithmetic": res.arithmetic})
    return pd.DataFrame(rows, columns=cols)


def contradictions(bounds: pd.DataFrame) -> list[str]:
    """A contradiction line for each paper count above its bound."""
    out = []
    for r in bounds[bounds["ruled_out"]].itertuples():
        out.append(f"Specialized neurons, {dataset_label(r.dataset)}, {r.source} (k = {r.k:g}, threshold "
                   f"{r.threshold:g}): the paper reports {r.paper:,.0f}, but at most {r.bound:,} neurons can be "
                   f"specialized with {r.k:g} active per sample ({r.arithmetic}).")  # fmt: skip
    return out


def measured_bounds(scalars: pd.DataFrame) -> pd.DataFrame:
    """This run's counts and bounds per (dataset, phase), mean over seeds, for both readings."""
    cols = ["dataset", "phase", "k", "n", "specialized_topk", "bound_topk", "active_topk", "specialized_pre_topk",
            "bound_pre_topk", "active_pre_topk"]  # fmt: skip
    if scalars is None or scalars.empty or "bound_topk" not in scalars:
        return pd.DataFrame(columns=cols)
    rows = []
    for dataset in ordered(scalars["dataset"].dropna().tolist(), DATASET_ORDER):
        for phase, _ in AUDIT_PHASES:
            cur = scalars[(scalars["dataset"] == dataset) & (scalars["phase"] == phase)]
            if cur.empty:
                continue
            row = {"dataset": dataset, "phase": phase, "k": cur["k"].iloc[0], "n": len(cur)}
            row.update({c: float(cur[c].astype(float).mean()) for c in cols[4:]})
            rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def revival_effect(histories: pd.DataFrame | None) -> pd.DataFrame:
    """Per (dataset, phase) of stage 3 and extended training, summed over seeds and epochs: epochs, epochs with
    boosted neurons, the median boost / spread, neurons re-initialised, and how many of them were alive one and
    five epochs later (out of those whose later epoch exists in the same run)."""
    cols = ["dataset", "phase", "epochs", "boosted_epochs", "boost_to_spread", "reinit", "alive_1", "checked_1",
            "alive_5", "checked_5"]  # fmt: skip
    if histories is None or histories.empty or "reinit" not in histories or "stage" not in histories:
        return pd.DataFrame(columns=cols)
    rows = []
    stage3 = histories[histories["stage"].isin(["sparsify", "extend"])]
    for (dataset, phase), g in stage3.groupby(["dataset", "phase"], sort=False):
        reinit = pd.to_numeric(g["reinit"], errors="coerce").fillna(0)
        alive_1, alive_5 = (pd.to_numeric(g.get(c), errors="coerce") for c in ("reinit_alive_1", "reinit_alive_5"))
        ratio = pd.to_numeric(g.get("boost_to_spread"), errors="coerce").dropna()
        boosted = pd.to_numeric(g.get("boosted"), errors="coerce").fillna(0)
        rows.append({"dataset": dataset, "phase": phase, "epochs": len(g), "boosted_epochs": int((boosted > 0).sum()),
                     "boost_to_spread": float(ratio.median()) if len(ratio) else math.nan,
                     "reinit": int(reinit.sum()),
                     "alive_1": float(alive_1[alive_1.notna()].sum()), "checked_1": int(reinit[alive_1.notna()].sum()),
                     "alive_5": float(alive_5[alive_5.notna()].sum()), "checked_5": int(reinit[alive_5.notna()].sum())})  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def _revival_verdict(r) -> str:
    if r.reinit == 0:
        boosted = "boosting only" if r.boosted_epochs else "nothing"
        return f"no neuron re-initialised; {boosted}"
    if r.checked_1 == 0:
        return "re-initialised only at the run's end: not followed"
    share = r.alive_1 / r.checked_1
    return f"{share:.0%} of re-initialised neurons alive one epoch later" + (
        f", {r.alive_5 / r.checked_5:.0%} five epochs later" if r.checked_5 else "")


def audit_markdown(scalars: pd.DataFrame, histories: pd.DataFrame | None, cfg: dict, data_note: str) -> list[str]:
    """The audit sections of claims.md (Markdown lines)."""
    out = ["", "## Data", "", data_note, "", "## What the specialization count can reach (activation-budget bound)", "",
           "A neuron firing on a fraction p of the samples has at most h(p) + p·ln(n_bins) nats of MI with any "
           "factor, so a normalised MI above τ needs p > p*, and with A active neurons per sample at most A / p* "
           "neurons can be specialized. A count at or near its bound says more about the metric than about training.",
           ""]  # fmt: skip
    pb = paper_bounds(cfg)
    if len(pb):
        out.append(md_table(["Dataset", "Paper value", "k", "τ", "Paper", "Bound (budget k)", "Possible on ã?",
                             "Active per sample it needs"],
                            [[dataset_label(r.dataset), r.source, f"{r.k:g}", f"{r.threshold:g}", f"{r.paper:,.0f}",
                              f"{r.bound:,}", "no: ruled out" if r.ruled_out else "yes", f"{r.budget_needed:.1f}"]
                             for r in pb.itertuples()]))  # fmt: skip
        out += ["", "Under the ã reading (after Top-k) the budget is at most k. Under the pre-Top-k reading a = "
                "ReLU(pre) the budget is the mean number of positive pre-activations, which the paper does not "
                "report: a count is reachable under that reading only if that budget is at least the last column. "
                "This run's measured budgets for both readings are below."]  # fmt: skip
    mb = measured_bounds(scalars)
    if len(mb):
        out += ["", "This run (mean over seeds; A = measured active neurons per sample):", "",
                md_table(["Dataset", "Phase", "k", "Specialized (ã)", "Bound (ã)", "A (ã)", "Specialized (pre-Top-k)",
                          "Bound (pre-Top-k)", "A (pre-Top-k)"],
                         [[dataset_label(r.dataset), r.phase, "" if pd.isna(r.k) or r.k < 0 else f"{int(r.k)}",
                           f"{r.specialized_topk:,.0f}", f"{r.bound_topk:,.0f}", f"{r.active_topk:.1f}",
                           f"{r.specialized_pre_topk:,.0f}", f"{r.bound_pre_topk:,.0f}", f"{r.active_pre_topk:.1f}"]
                          for r in mb.itertuples()])]  # fmt: skip
    rv = revival_effect(histories)
    out += ["", "## Did revival revive anything?", ""]
    if len(rv):
        out.append(md_table(["Dataset", "Phase", "Epochs", "Epochs with boosted neurons", "Median boost / spread",
                             "Re-initialised", "Alive after 1 epoch", "Alive after 5 epochs", "Verdict"],
                            [[dataset_label(r.dataset), r.phase, str(r.epochs), str(r.boosted_epochs),
                              "" if np.isnan(r.boost_to_spread) else f"{r.boost_to_spread:.3g}", str(r.reinit),
                              f"{r.alive_1:.0f} / {r.checked_1}", f"{r.alive_5:.0f} / {r.checked_5}",
                              _revival_verdict(r)] for r in rv.itertuples()]))  # fmt: skip
        out += ["", "Boost / spread: b_i / σ_i over the boosted neurons (boost at least half its full value), σ_i the "
                "standard deviation of the neuron's pre-activation on a fixed probe batch. Alive: activation rate on "
                "the evaluation set at least eval.dead_threshold."]  # fmt: skip
    else:
        out.append("_No stage-3 epochs in this run._")
    return out
