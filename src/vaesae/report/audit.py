"""What each metric can reach, and what revival did: the audit sections of ``claims.md``.

Bound audit. A neuron firing on a fraction p of samples has MI <= h(p) + p·ln(n_bins) nats with any factor, so a
normalised MI above τ needs p > p*(τ, H_min), and with A active neurons per sample (A <= k under Top-k) at most
A / p* neurons can be specialized (:mod:`vaesae.metrics.bound`). For every count the paper reports at a known k
(``claims.paper``) the audit computes that bound with A = k, the paper's n_bins and the entropy of the smallest
factor of the real dataset (uniform classes: ln 3 for dSprites' shape, ln 4 for Shapes3D's), and lists every
reported count above its bound as a contradiction, with the arithmetic. Next to them stand this run's counts and the
bounds from its measured budgets, for the ã reading (``topk``) and the pre-Top-k reading (``pre_topk``).

Floor audit. Σᵢ rateᵢ = B <= k, so at a dead threshold τ at most ⌊B/τ⌋ neurons are alive and at least
1 − ⌊B/τ⌋/M are dead (:mod:`vaesae.metrics.dead_floor`): per threshold, the floor at the paper's k_start and k_end
beside its Table 5, and this run's dead % beside the floor of its measured budget.

Death audit. From the epoch table: the first and last stage-3 epoch's dead %, ‖h‖, decoder column norms and ‖ã‖₁,
so a reader sees whether the encoder shrank h or the decoder grew while neurons died.

Revival audit. From the epoch table: how many neurons were boosted and by how much against the spread of their
pre-activations, how many were re-initialised, and how many of those were alive one and five epochs later. The
paper's "despite revival" is a finding only where revival revived something.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from vaesae.metrics.bound import specialization_bound
from vaesae.metrics.dead_floor import dead_floor_pct
from vaesae.report.markdown import md_table
from vaesae.report.catalog import DATASET_ORDER
from vaesae.report.stats import ordered
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


def paper_floors(cfg: dict) -> pd.DataFrame:
    """The dead-% floor at the paper's k_start and k_end (budget = k, M = ``claims.paper.bound.n_neurons``) per dead
    threshold of Table 5 (``claims.paper.dead_by_threshold``), beside the paper's values."""
    paper = (cfg or {}).get("paper") or {}
    b = paper.get("bound") or {}
    cols = ["dataset", "threshold", "paper", "floor_k_start", "floor_k_end", "at_floor"]
    table5 = paper.get("dead_by_threshold") or {}
    m, k_start, k_end = b.get("n_neurons"), b.get("k_start"), b.get("k_end")
    if not (m and k_start and k_end):
        return pd.DataFrame(columns=cols)
    rows = []
    for dataset in ordered(list(table5), DATASET_ORDER):
        for t, v in sorted((float(t), float(v)) for t, v in (table5[dataset] or {}).items()):
            lo, hi = dead_floor_pct(float(k_start), int(m), t), dead_floor_pct(float(k_end), int(m), t)
            rows.append({"dataset": dataset, "threshold": t, "paper": v, "floor_k_start": lo, "floor_k_end": hi,
                         "at_floor": hi > 0 and v - hi <= 10.0})
    return pd.DataFrame(rows, columns=cols)


def measured_floors(sweep: pd.DataFrame | None) -> pd.DataFrame:
    """This run's conv-SAE dead % and its floor per (dataset, phase, threshold), mean over seeds."""
    cols = ["dataset", "phase", "threshold", "n", "dead_pct", "floor"]
    if sweep is None or sweep.empty or "dead_floor" not in set(sweep["kind"]):
        return pd.DataFrame(columns=cols)
    sw = sweep[(sweep["sae"] == "conv") & sweep["phase"].isin([p for p, _ in AUDIT_PHASES])]
    rows = []
    for dataset in ordered(sw["dataset"].dropna().tolist(), DATASET_ORDER):
        for phase, _ in AUDIT_PHASES:
            cur = sw[(sw["dataset"] == dataset) & (sw["phase"] == phase)]
            for t in sorted(cur.loc[cur["kind"] == "dead", "threshold"].unique()):
                at = cur[np.isclose(cur["threshold"], t)]
                dead = at[at["kind"] == "dead"].groupby("seed")["value"].mean()
                floor = at[at["kind"] == "dead_floor"].groupby("seed")["value"].mean()
                rows.append({"dataset": dataset, "phase": phase, "threshold": float(t), "n": len(dead),
                             "dead_pct": float(dead.mean()), "floor": float(floor.mean()) if len(floor) else math.nan})
    return pd.DataFrame(rows, columns=cols)


def floor_markdown(cfg: dict, sweep: pd.DataFrame | None) -> list[str]:
    """The audit section on the dead-% floor (Markdown lines)."""
    out = ["", "## What the dead count must be (the activation-budget floor)", "",
           "Σᵢ rateᵢ = B, the mean number of active neurons per sample (B ≤ k under Top-k), and an alive neuron "
           "spends at least τ of it, so at most ⌊B/τ⌋ of the M neurons are alive: at least 1 − ⌊B/τ⌋/M of them are "
           "dead at the dead threshold τ, whatever training does (`vaesae.metrics.dead_floor`). A dead % at or near "
           "its floor is forced by the metric; only the part above it is a finding.", ""]
    pf = paper_floors(cfg)
    if len(pf):
        b = ((cfg or {}).get("paper") or {}).get("bound") or {}
        out.append(f"The paper's setting (M = {int(b['n_neurons']):,}, budget = k; its Table 5 at k_end):")
        out += ["", md_table(["Dataset", "Dead threshold τ", "Paper (Table 5)", f"Floor at k = {b['k_start']}",
                              f"Floor at k = {b['k_end']}", "Paper above the floor"],
                             [[dataset_label(r.dataset), f"{r.threshold:g}", f"{r.paper:.1f} %",
                               f"{r.floor_k_start:.1f} %", f"{r.floor_k_end:.1f} %",
                               f"{r.paper - r.floor_k_end:+.1f} points" + (" (mostly forced)" if r.at_floor else "")]
                              for r in pf.itertuples()])]  # fmt: skip
    mf = measured_floors(sweep)
    if len(mf):
        out += ["", "This run (conv SAE, mean over seeds; the floor from each evaluation's measured budget):", "",
                md_table(["Dataset", "Phase", "Dead threshold τ", "Dead %", "Floor", "Above the floor"],
                         [[dataset_label(r.dataset), r.phase, f"{r.threshold:g}", f"{r.dead_pct:.1f} %",
                           f"{r.floor:.1f} %", f"{r.dead_pct - r.floor:+.1f} points"]
                          for r in mf.itertuples()])]  # fmt: skip
    return out


#: history.csv columns of the per-epoch diagnostics (``vaesae.evaluation``): where the death comes from.
DEATH_COLUMNS = (("dead_pct", "Dead %", "points"), ("h_norm_mean", "‖h‖ mean", "%"),
                 ("dec_norm_median", "decoder ‖d_i‖ median", "%"), ("dec_norm_max", "decoder ‖d_i‖ max", "%"),
                 ("a_l1", "‖ã‖₁", "%"))  # fmt: skip


def _nanmean(values: np.ndarray) -> float:
    """The mean of the finite values; NaN (without numpy's empty-slice warning) when there is none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else math.nan


def death_sources(histories: pd.DataFrame | None) -> pd.DataFrame:
    """Per (dataset, stage-3 phase): the first and last stage-3 epoch's dead %, ‖h‖ (mean over the evaluation
    images), decoder column norms and ‖ã‖₁, mean over seeds, and their changes (dead %: points; the others: %)."""
    cols = ["dataset", "phase", "n"] + [f"{c}_{w}" for c, _, _ in DEATH_COLUMNS for w in ("first", "last", "change")]
    if histories is None or histories.empty or "h_norm_mean" not in histories or "stage" not in histories:
        return pd.DataFrame(columns=cols)
    h = histories[histories["stage"] == "sparsify"]
    rows = []
    for (dataset, phase), g in h.groupby(["dataset", "phase"], sort=False):
        per_seed = []
        for _, run in g.groupby("seed"):
            run = run.sort_values("epoch")
            if len(run) >= 2:
                per_seed.append((run.iloc[0], run.iloc[-1]))
        if not per_seed:
            continue
        row = {"dataset": dataset, "phase": phase, "n": len(per_seed)}
        for col, _, unit in DEATH_COLUMNS:
            first = np.array([float(a.get(col, math.nan)) for a, _ in per_seed])
            last = np.array([float(b.get(col, math.nan)) for _, b in per_seed])
            row[f"{col}_first"], row[f"{col}_last"] = _nanmean(first), _nanmean(last)
            change = last - first if unit == "points" else (last - first) / np.where(first != 0, first, np.nan) * 100
            row[f"{col}_change"] = float(np.nanmean(change)) if np.isfinite(change).any() else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def death_markdown(histories: pd.DataFrame | None) -> list[str]:
    """The audit section "Where the death comes from" (Markdown lines)."""
    out = ["", "## Where the death comes from: what moved while neurons died", "",
           "The SAE loss ‖h − ĥ‖² + λ‖ã‖₁ can be lowered without any dictionary change by the encoder shrinking h "
           "(its gradients reach the encoder in joint training), and an untied decoder can pay the L1 term by "
           "growing its columns while the activations shrink. From the first to the last stage-3 epoch (evaluation "
           "set, mean over seeds; dead %: change in points, the others: relative change):", ""]
    df = death_sources(histories)
    if df.empty:
        return out + ["_No stage-3 epochs with the diagnostics (h_norm_mean ... a_l1) in this run._"]

    def cell(r, col, unit):
        a, b, c = (getattr(r, f"{col}_{w}") for w in ("first", "last", "change"))
        if not np.isfinite(a):
            return "n/a"
        digits = ".1f" if unit == "points" else ".3g"
        return f"{a:{digits}} → {b:{digits}} ({c:+.1f}{' points' if unit == 'points' else ' %'})"

    out.append(md_table(["Dataset", "Phase", "Seeds", *[name for _, name, _ in DEATH_COLUMNS]],
                        [[dataset_label(r.dataset), r.phase, str(r.n),
                          *[cell(r, col, unit) for col, _, unit in DEATH_COLUMNS]] for r in df.itertuples()]))
    return out


def audit_markdown(scalars: pd.DataFrame, histories: pd.DataFrame | None, cfg: dict, data_note: str,
                   sweep: pd.DataFrame | None = None) -> list[str]:
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
    out += floor_markdown(cfg, sweep)
    out += death_markdown(histories)
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
