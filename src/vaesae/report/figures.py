"""Figures 1-11 of the paper, redrawn from the pipeline's histories, evaluation scalars and threshold sweep, and
Figure 12 (beyond the paper): every stage-3 method of the run, the paper's and the remedies, through stage 3.

One function per figure returns a :class:`matplotlib.figure.Figure`; :func:`make_all_figures` writes
``figure01.png`` ... ``figure12.png`` and a PDF next to each. A figure whose dataset (or whose data) is absent from
the run is still written, with a centred "no data for <dataset> in this run" note, so the set of outputs is fixed.

Figure -> dataset: 1, 2, 6, 8, 10 are dSprites; 3, 4, 7, 9, 11 are Shapes3D; 5 and 12 show every dataset.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from vaesae.methods import PAPER_METHODS
from vaesae.report.catalog import DATASET_ORDER, FIGURES
from vaesae.report.style import (
    DEFAULT_LINE_COLORS,
    STAGE_COLORS,
    data_source_short,
    dataset_color,
    dataset_label,
    is_control_method,
    is_paper_method,
    method_color,
    method_label,
    method_order,
    new_figure,
    save_figure,
    seed_colors,
)


#: y-axis labels with units.
LABELS = {
    "dead_pct": "dead neurons (%)",
    "specialized": "specialized neurons (count)",
    "mig": "MIG (normalized, 0-1)",
    "mse": "MSE (per pixel)",
    "k": "k (active conv-SAE neurons)",
}
TITLES = {"dead_pct": "Dead neurons", "specialized": "Specialized neurons", "mig": "MIG (global disentanglement)",
          "mse": "Reconstruction MSE"}
#: Metrics drawn from y = 0 (stability claims are judged by eye; a zoomed axis exaggerates noise).
ZERO_BASED = ("dead_pct", "specialized", "mig", "mse")
THOUSANDS = FuncFormatter(lambda v, _: f"{v:,.0f}")


# --------------------------------------------------------------------------------------------------- helpers
def _frame(df: pd.DataFrame | None) -> pd.DataFrame:
    return pd.DataFrame() if df is None else df


def _rows(histories: pd.DataFrame | None, dataset: str, stage: str, phase: str) -> pd.DataFrame:
    h = _frame(histories)
    if h.empty:
        return h
    sub = h[(h["dataset"] == dataset) & (h["stage"] == stage) & (h["phase"] == phase)]
    return sub.sort_values(["seed", "epoch"])


def _stage3(histories, dataset, method="topk") -> pd.DataFrame:
    return _rows(histories, dataset, "sparsify", method)


def _no_data(fig: Figure, message: str) -> Figure:
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=14, color="0.35", transform=ax.transAxes,
            bbox={"boxstyle": "round,pad=0.8", "facecolor": "0.96", "edgecolor": "0.7"})
    return fig


def _empty_axes(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10, color="0.4", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _style_axis(ax, metric: str, xlabel: str = "stage-3 epoch") -> None:
    ax.set_ylabel(LABELS.get(metric, metric))
    ax.set_xlabel(xlabel)
    if metric == "specialized":
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(THOUSANDS)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
    if metric in ZERO_BASED and ax.has_data():
        _, hi = ax.get_ylim()  # these metrics are >= 0: start at zero so small wiggles are not blown up
        floor = 1.0 if metric == "specialized" else 1e-3  # an all-zero count still gets a readable axis
        ax.set_ylim(0.0, max(hi * 1.06, floor))


def _band(ax, x, mean, std, color, label):
    ax.plot(x, mean, color=color, label=label)
    std = np.nan_to_num(np.asarray(std, dtype=float))
    ax.fill_between(x, np.asarray(mean) - std, np.asarray(mean) + std, color=color, alpha=0.22, linewidth=0)


def _agg(df: pd.DataFrame, by: str, metric: str) -> pd.DataFrame:
    """mean, std (ddof=1, 0 for one seed), n of ``metric`` grouped by ``by``."""
    g = df.dropna(subset=[metric]).groupby(by)[metric]
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1).fillna(0.0), "n": g.count()})
    return out.sort_index()


def _first_seed(*frames) -> int | None:
    """The smallest seed present in every non-empty frame (else in any)."""
    sets = [set(f["seed"].unique()) for f in frames if f is not None and not f.empty]
    if not sets:
        return None
    common = set.intersection(*sets)
    return int(min(common or set.union(*sets)))


def _suptitle(fig: Figure, number: int, text: str) -> None:
    fig.suptitle(f"Figure {number}. {text}")


def _k_twin(ax, df: pd.DataFrame):
    """Light dotted k(t) schedule on a secondary axis (for orientation); returns its line or None."""
    k = df.dropna(subset=["k"]).groupby("epoch")["k"].median()
    if k.empty:
        return None
    twin = ax.twinx()
    (line,) = twin.plot(k.index, k.values, color="0.55", linestyle=":", linewidth=1.5, label="k(t) schedule (right axis)")
    twin.set_ylabel("k (active neurons)", color="0.45")
    twin.tick_params(axis="y", colors="0.45", labelsize=8)
    twin.grid(False)
    twin.set_ylim(0, max(k.max() * 1.08, 1))
    twin.spines["right"].set_visible(True)
    return line


# --------------------------------------------------------------------------------------------------- 1, 3
def per_seed(histories, dataset: str, number: int) -> Figure:
    """Figures 1 and 3: one line per seed of dead %, specialized count, MIG and MSE through stage 3 (Top-k), k on a
    twin axis."""
    fig = new_figure((11, 7.2))
    name = dataset_label(dataset)
    _suptitle(fig, number, f"{name}: per-seed trajectories through stage 3 (Top-k, k annealed k_start -> k_end)")
    df = _stage3(histories, dataset)
    if df.empty:
        return _no_data(fig, f"no data for {name} in this run\n(no stage-3 Top-k history)")
    colors = seed_colors(df["seed"].unique())
    axes = fig.subplots(2, 2, sharex=True)
    for ax, metric in zip(axes.flat, ("dead_pct", "specialized", "mig", "mse")):
        for seed, g in df.groupby("seed"):
            ax.plot(g["epoch"], g[metric], color=colors[seed], marker="o", markersize=2.5, label=f"seed {seed}")
        ax.set_title(TITLES[metric])
        _style_axis(ax, metric)
    k_line = _k_twin(axes[0, 0], df)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if k_line is not None:
        handles, labels = handles + [k_line], labels + [k_line.get_label()]
    fig.legend(handles, labels, loc="outside lower center", ncol=len(handles), frameon=False)
    for ax in axes[0]:
        ax.set_xlabel("")
    return fig


# --------------------------------------------------------------------------------------------------- 2, 4
def aggregated(histories, dataset: str, number: int) -> Figure:
    """Figures 2 and 4: mean ± std over seeds of dead %, specialized count and MIG through stage 3 (Top-k)."""
    fig = new_figure((13, 4.2))
    name = dataset_label(dataset)
    df = _stage3(histories, dataset)
    n_seeds = df["seed"].nunique() if not df.empty else 0
    _suptitle(fig, number, f"{name}: stage-3 trajectories (Top-k)"
              + (f", mean ± std over {n_seeds} seed(s)" if n_seeds else ""))
    if df.empty:
        return _no_data(fig, f"no data for {name} in this run\n(no stage-3 Top-k history)")
    axes = fig.subplots(1, 3)
    color = dataset_color(dataset)
    for ax, metric in zip(axes, ("dead_pct", "specialized", "mig")):
        a = _agg(df, "epoch", metric)
        if a.empty:
            _empty_axes(ax, f"no {metric} values")
            continue
        _band(ax, a.index, a["mean"], a["std"], color, f"mean ± std ({n_seeds} seeds)")
        last = a.iloc[-1]
        ax.annotate(f"{last['mean']:,.3g}" if metric == "mig" else f"{last['mean']:,.1f}",
                    (a.index[-1], last["mean"]), textcoords="offset points", xytext=(-4, 8), ha="right",
                    fontsize=8.5, color=color)
        ax.set_title(TITLES[metric])
        _style_axis(ax, metric)
    axes[0].legend(loc="lower right")
    return fig


# --------------------------------------------------------------------------------------------------- 5
def cross_dataset(histories, datasets=None, number: int = 5) -> Figure:
    """Cross-dataset comparison: dead %, specialized and MIG against k (k decreasing), Top-k stage 3.

    Each (seed, k) contributes its last stage-3 epoch at that k; points are mean ± std over seeds.
    """
    fig = new_figure((13, 4.3))
    _suptitle(fig, number, "Cross-dataset comparison along the sparsity schedule (Top-k, stage 3)")
    h = _frame(histories)
    wanted = list(datasets) if datasets else list(DATASET_ORDER)
    present = [] if h.empty else [d for d in wanted if not _stage3(h, d).dropna(subset=["k"]).empty]
    if not h.empty and not datasets:
        extra = sorted(set(h.loc[h["stage"] == "sparsify", "dataset"].dropna()) - set(wanted))
        present += [d for d in extra if not _stage3(h, d).dropna(subset=["k"]).empty]
    if not present:
        names = ", ".join(dataset_label(d) for d in wanted)
        return _no_data(fig, f"no data for {names} in this run\n(no stage-3 Top-k history)")
    axes = fig.subplots(1, 3)
    for dataset in present:
        df = _stage3(h, dataset).dropna(subset=["k"])
        last = df.sort_values("epoch").groupby(["seed", "k"], as_index=False).last()
        for ax, metric in zip(axes, ("dead_pct", "specialized", "mig")):
            a = _agg(last, "k", metric)
            if a.empty:
                continue
            color = dataset_color(dataset)
            ax.plot(a.index, a["mean"], color=color, marker="o", markersize=3,
                    label=f"{dataset_label(dataset)} (n={int(a['n'].max())})")
            ax.fill_between(a.index, a["mean"] - a["std"], a["mean"] + a["std"], color=color, alpha=0.2, lw=0)
    missing = [d for d in wanted if d not in present]
    for ax, metric in zip(axes, ("dead_pct", "specialized", "mig")):
        ax.set_title(TITLES[metric] + " vs k")
        _style_axis(ax, metric, xlabel=LABELS["k"] + ", decreasing")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        lo, hi = ax.get_xlim()
        ax.set_xlim(max(lo, hi), min(lo, hi))  # k decreases to the right
    for d in missing:
        axes[0].plot([], [], " ", label=f"{dataset_label(d)}: no data in this run")
    axes[0].legend(loc="best", title="dataset")
    return fig


# --------------------------------------------------------------------------------------------------- 6, 7
def _final_values(scalars, histories, dataset, seed, method) -> dict | None:
    s = _frame(scalars)
    if not s.empty:
        row = s[(s["dataset"] == dataset) & (s["seed"] == seed) & (s["phase"] == method)]
        if not row.empty:
            r = row.iloc[0]
            n = r.get("n_neurons")
            return {"dead_pct": float(r["dead_pct"]), "specialized": float(r["specialized"]),
                    "mig": float(r["mig"]), "n_neurons": float(n) if pd.notna(n) else np.nan, "source": "eval"}
    h = _stage3(histories, dataset, method)
    h = h[h["seed"] == seed] if not h.empty else h
    if h.empty:
        return None
    r = h.sort_values("epoch").iloc[-1]
    return {"dead_pct": float(r["dead_pct"]), "specialized": float(r["specialized"]), "mig": float(r["mig"]),
            "n_neurons": np.nan, "source": "history"}


def topk_vs_l1(histories, scalars, dataset: str, number: int) -> Figure:
    """Figures 6 and 7: Top-k against L1 for the first seed: MIG, specialized and dead % over the stage-3 epochs, and
    the final values of the evaluation files."""
    fig = new_figure((11, 7.6))
    name = dataset_label(dataset)
    runs = {m: _stage3(histories, dataset, m) for m in PAPER_METHODS}
    seed = _first_seed(*runs.values())
    if seed is None:
        _suptitle(fig, number, f"{name}: Top-k vs L1 sparsification (stage 3)")
        return _no_data(fig, f"no data for {name} in this run\n(no stage-3 Top-k or L1 history)")
    _suptitle(fig, number, f"{name}: Top-k vs L1 sparsification (stage 3, seed {seed})")
    gs = fig.add_gridspec(2, 2)
    panels = [("mig", gs[0, 0]), ("specialized", gs[0, 1]), ("dead_pct", gs[1, 0])]
    for metric, spec in panels:
        ax = fig.add_subplot(spec)
        for method, df in runs.items():
            g = df[df["seed"] == seed] if not df.empty else df
            if g.empty:
                ax.plot([], [], color=method_color(method), label=f"{method_label(method)} (no run)")
                continue
            ax.plot(g["epoch"], g[metric], color=method_color(method), marker="o", markersize=2.5,
                    label=method_label(method))
        ax.set_title(TITLES[metric])
        _style_axis(ax, metric)
        ax.legend(loc="best")
    final = {m: _final_values(scalars, histories, dataset, seed, m) for m in PAPER_METHODS}
    sub = gs[1, 1].subgridspec(1, 3, wspace=0.15)
    bars = [("Alive (%)", lambda v: 100.0 - v["dead_pct"], "{:.1f}"),
            ("Specialized (count)", lambda v: v["specialized"], "{:,.0f}"),
            ("MIG", lambda v: v["mig"], "{:.3f}")]
    methods = [m for m in PAPER_METHODS if final[m] is not None]
    for i, (label, fn, fmt) in enumerate(bars):
        ax = fig.add_subplot(sub[0, i])
        vals = [fn(final[m]) for m in methods]
        ax.bar(range(len(methods)), vals, color=[method_color(m) for m in methods], width=0.65)
        for j, v in enumerate(vals):
            ax.annotate(fmt.format(v), (j, v), textcoords="offset points", xytext=(0, 2), ha="center",
                        fontsize=8)
        ax.set_xticks(range(len(methods)), [method_label(m) for m in methods])
        ax.set_xlim(-0.6, 1.6)
        ax.set_title(label, fontsize=9.5, fontweight="normal")
        ax.set_ylim(0, (max(vals) if vals and max(vals) > 0 else 1) * 1.2)
        if label.startswith("Alive"):
            ax.set_ylim(0, 105)
        if label.startswith("Specialized"):
            ax.yaxis.set_major_formatter(THOUSANDS)
        ax.tick_params(axis="y", labelsize=7.5)
        ax.grid(axis="x", visible=False)
        if i == 1:
            src = {final[m]["source"] for m in methods}
            ax.set_xlabel("final metrics (" + ("eval files" if src == {"eval"} else "last epoch") + ")")
    return fig


# --------------------------------------------------------------------------------------------------- 8, 9
def extended(histories, dataset: str, number: int) -> Figure:
    """Figures 8 and 9: the first seed's stage-3 Top-k history, then its extended training, on one epoch axis."""
    fig = new_figure((14, 4.3))
    name = dataset_label(dataset)
    s3 = _stage3(histories, dataset, "topk")
    ext = _rows(histories, dataset, "extend", "topk_extended")
    seed = _first_seed(s3, ext)
    _suptitle(fig, number, f"{name}: extended training at k_end after stage 3 (Top-k"
              + (f", seed {seed})" if seed is not None and not ext.empty else ")"))
    if seed is None or ext.empty:
        what = "no extended-training history" if seed is not None else "no stage-3 or extended history"
        return _no_data(fig, f"no data for {name} in this run\n({what})")
    s3 = s3[s3["seed"] == seed] if not s3.empty else s3
    ext = ext[ext["seed"] == seed]
    offset = int(s3["epoch"].max()) + 1 if not s3.empty else 0
    axes = fig.subplots(1, 3)
    for ax, metric in zip(axes, ("mig", "specialized", "dead_pct")):
        if not s3.empty:
            ax.plot(s3["epoch"], s3[metric], color=STAGE_COLORS["sparsify"], label="stage 3 (k annealed)")
        ax.plot(ext["epoch"] + offset, ext[metric], color=STAGE_COLORS["extend"], label="extended (k = k_end)")
        ax.axvline(offset - 0.5, color="0.25", linestyle="--", linewidth=1.2, label="extension begins")
        ax.set_title(TITLES[metric])
        _style_axis(ax, metric, xlabel="epoch (stage 3, then extension)")
    if s3.empty:
        axes[0].text(0.02, 0.02, "no stage-3 history for this seed", transform=axes[0].transAxes, fontsize=8)
    axes[0].legend(loc="best")
    return fig


# --------------------------------------------------------------------------------------------------- 10, 11
def thresholds(sweep, dataset: str, number: int, specialization_threshold: float, dead_threshold: float) -> Figure:
    """Figures 10 and 11: specialized count against the specialization threshold and dead % against the dead
    threshold (Top-k at k_end; the defaults dashed; the dead panel's dotted line is the floor the activation budget
    forces at k_end)."""
    fig = new_figure((12, 4.6))
    name = dataset_label(dataset)
    sw = _frame(sweep)
    sub = sw[(sw["dataset"] == dataset) & (sw["sae"] == "conv")] if not sw.empty else sw
    n_seeds = sub.loc[sub["phase"] == "topk", "seed"].nunique() if not sub.empty else 0
    _suptitle(fig, number, f"{name}: threshold sensitivity (conv SAE"
              + (f", mean ± std over {n_seeds} seed(s))" if n_seeds else ")"))
    if sub.empty or n_seeds == 0:
        return _no_data(fig, f"no data for {name} in this run\n(no Top-k rows in the threshold sweep)")
    axes = fig.subplots(1, 2)
    spec = [("specialization", "specialized", specialization_threshold, "specialization threshold (normalized MI)"),
            ("dead", "dead_pct", dead_threshold, "dead threshold (activation rate, log scale)")]
    for ax, (kind, metric, default, xlabel) in zip(axes, spec):
        ref = None  # the k_start curve: value labels of the k_end curve go on the side away from it
        for phase, style in (("init", {"color": "0.5", "linestyle": "--", "marker": "s"}),
                             ("topk", {"color": dataset_color(dataset), "linestyle": "-", "marker": "o"})):
            cur = sub[(sub["phase"] == phase) & (sub["kind"] == kind)]
            if cur.empty:
                continue
            per_seed = cur.groupby(["threshold", "seed"])["value"].mean().reset_index()
            a = _agg(per_seed, "threshold", "value")
            label = ("k_start (end of stage 2)" if phase == "init" else "Top-k, k_end (end of stage 3)")
            ax.plot(a.index, a["mean"], label=f"{label}, n={int(a['n'].max())}", markersize=4, **style)
            ax.fill_between(a.index, a["mean"] - a["std"], a["mean"] + a["std"], color=style["color"], alpha=0.18,
                            lw=0)
            if phase == "init":
                ref = a["mean"]
            else:
                for x, y in zip(a.index, a["mean"]):
                    below = ref is not None and x in ref.index and ref[x] > y
                    ax.annotate(f"{y:,.0f}" if kind == "specialization" else f"{y:.1f}", (x, y),
                                textcoords="offset points", xytext=(0, -13 if below else 7), ha="center",
                                fontsize=7.5, color=style["color"],
                                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
        if kind == "dead":  # what the activation budget forces at k_end: at most B/τ neurons can be alive
            floor = sub[(sub["phase"] == "topk") & (sub["kind"] == "dead_floor")]
            if not floor.empty:
                f = _agg(floor.groupby(["threshold", "seed"])["value"].mean().reset_index(), "threshold", "value")
                ax.plot(f.index, f["mean"], color="black", linestyle=":", linewidth=1.4, marker="v", markersize=3,
                        label="forced floor at k_end (1 − ⌊B/τ⌋/M)")
        if default is not None:
            ax.axvline(default, color=DEFAULT_LINE_COLORS[kind], linestyle="--", linewidth=1.2,
                       label=f"default threshold ({default:g})")
        swept = sorted(sub.loc[sub["kind"] == kind, "threshold"].dropna().unique())
        if kind == "dead":
            ax.set_xscale("log")
            ax.minorticks_off()
        if swept:
            ax.set_xticks(swept, [f"{t:g}" for t in swept])
        if kind == "dead":
            ax.set_title("Dead neurons vs dead threshold")
        else:
            ax.set_title("Specialized neurons vs specialization threshold")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(LABELS[metric])
        if metric == "specialized":
            ax.yaxis.set_major_formatter(THOUSANDS)
        top = ax.get_ylim()[1]
        below_labels = any(t.xyann[1] < 0 for t in ax.texts if hasattr(t, "xyann"))
        ax.set_ylim(-0.07 * top if below_labels else 0, top)  # room for value labels under the curve
        if not ax.lines:
            _empty_axes(ax, f"no {kind} sweep rows")
        else:
            ax.legend(loc="best", fontsize=8)
    return fig


# --------------------------------------------------------------------------------------------------- 12
def every_method(histories, datasets=None, number: int = 12) -> Figure:
    """Beyond the paper: dead % (left) and specialized count (right) through stage 3, one line per method (the
    paper's Top-k and L1 solid, then the remedies dashed; mean ± std over seeds), one row of panels per dataset."""
    h = _frame(histories)
    s3 = h[h["stage"] == "sparsify"] if not h.empty else h
    wanted = list(datasets) if datasets else list(DATASET_ORDER)
    present = [] if s3.empty else [d for d in wanted if (s3["dataset"] == d).any()]
    if not s3.empty and not datasets:
        present += sorted(set(s3["dataset"].dropna()) - set(wanted))
    title = "Every stage-3 method, beyond the paper: dead and specialized neurons through stage 3"
    if not present:
        fig = new_figure((12, 4.2))
        _suptitle(fig, number, title)
        names = ", ".join(dataset_label(d) for d in wanted)
        return _no_data(fig, f"no data for {names} in this run\n(no stage-3 history)")
    fig = new_figure((12, 0.6 + 3.8 * len(present)))
    methods = method_order(s3["phase"].dropna().unique())
    n_seeds = int(s3.groupby(["dataset", "phase"])["seed"].nunique().max())
    missing = [dataset_label(d) for d in wanted if d not in present]
    _suptitle(fig, number, f"{title} (mean ± std over up to {n_seeds} seed(s))"
              + (f"; no stage-3 history for {', '.join(missing)}" if missing else ""))
    axes = fig.subplots(len(present), 2, squeeze=False, sharex="row")
    handles = {}
    for row, dataset in zip(axes, present):
        for ax, metric in zip(row, ("dead_pct", "specialized")):
            for method in methods:
                df = _stage3(s3, dataset, method)
                a = _agg(df, "epoch", metric) if not df.empty else df
                if a.empty:
                    continue
                paper = is_paper_method(method)
                label = method_label(method) + ("" if paper else " (control)" if is_control_method(method)
                                                else " (remedy)")
                _band(ax, a.index, a["mean"], a["std"], method_color(method), label)
                ax.lines[-1].set_linestyle("-" if paper else "--")  # the paper's methods solid, remedies dashed
                ax.lines[-1].set_gid(method)  # which method a line draws, for tests and for editing the PDF
                handles.setdefault(label, ax.lines[-1])
            if not ax.lines:
                _empty_axes(ax, f"no {metric} values")
                continue
            ax.set_title(f"{dataset_label(dataset)}: {TITLES[metric].lower()}")
            _style_axis(ax, metric)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=min(len(handles), 6),
                   frameon=False, title="method (remedies: beyond the paper)")
    return fig


# --------------------------------------------------------------------------------------------------- all
def add_data_line(fig: Figure, text: str) -> None:
    """A second, smaller line under the figure's title naming the data (the title's layout slot holds it)."""
    title = fig._suptitle.get_text() if fig._suptitle is not None else ""
    fig.suptitle(f"{title}\n{text}" if title else text, fontsize=11)


def make_all_figures(histories, sweep, scalars, outdir: str | os.PathLike, *, dead_threshold: float,
                     specialization_threshold: float, datasets=None, workers: int = 1) -> list[Path]:
    """Write every figure of the catalog (``vaesae.report.catalog.FIGURES``: figure01.png ... figure12.png, + .pdf)
    into ``outdir``; returns the PNG paths, in catalog order.

    ``datasets`` (the config's list) sets the datasets of Figures 5 and 12; Figures 1-4 and 6-11 are tied to dSprites
    (odd) and Shapes3D (even) as in the paper. Figure 12 is beyond the paper (every stage-3 method of the run).
    ``workers`` > 1 renders the figures in that many forked processes (where the platform can fork); the files are
    the same bytes either way. A figure that fails to render raises here, in the calling process.
    """
    outdir = Path(outdir)
    inputs = {"scalars": scalars, "histories": histories, "sweep": sweep, "benchmarks": None}
    options = {"specialization_threshold": specialization_threshold, "dead_threshold": dead_threshold,
               "datasets": datasets}
    builders = {entry.id: functools.partial(entry.build, inputs, options) for entry in FIGURES.values()}
    note = data_source_short(scalars) if scalars is not None and len(scalars) else "data: source not recorded"
    _JOB.update(builders=builders, note=note, outdir=outdir)
    try:
        names = list(builders)
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            # the builders are closures over the loaded frames: forked children inherit them without pickling
            with multiprocessing.get_context("fork").Pool(min(workers, len(names))) as pool:
                return [Path(p) for p in pool.map(_render_figure, names, chunksize=1)]
        return [Path(_render_figure(n)) for n in names]
    finally:
        _JOB.clear()


#: what :func:`_render_figure` draws; set by :func:`make_all_figures` before it forks, cleared after.
_JOB: dict = {}


def _render_figure(name: str) -> str:
    fig = _JOB["builders"][name]()
    add_data_line(fig, _JOB["note"])
    png, _ = save_figure(fig, _JOB["outdir"] / f"{name}.png")
    return str(png)
