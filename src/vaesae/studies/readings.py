"""The readings study: which reading of the paper's text moves which of its numbers (docs/EVIDENCE.md).

A reading is a preset of ``workflow/presets/readings/`` stacked on a rung of the scale ladder; its results land in
``results/ladder/<rung>/reading-<values>/`` and ``benchmarks/readings/run_reading.sh`` commits them, as a rung is
committed, to ``evidence/readings/<rung>/<variant>/`` (``vaesae.studies.ladder.collect_rung``: the summaries, the
histories, ``summary/specialization_readings.csv``, rung.yaml with the shared VAE's sha256). :func:`readings_frame`
reads every reading folder under a root into one tidy table

    reading x dataset x quantity -> mean, std, n over seeds

of the quantities :data:`QUANTITIES` names (the SAE input's γ; the conv-SAE dead % before any SAE step, on the
centred input, after stage 2, at the end of the warm-up, at k_end for Top-k and L1 and after extended training; the
specialized count under each specialization reading; MIG, MSE and L0 at k_end; the share of re-initialised neurons
alive one epoch later), and :func:`readings_markdown` / :func:`readings_figure` render it beside the paper's values.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from vaesae import DATASETS
from vaesae.report.stats import summarize
from vaesae.studies.ladder import RUNG_FILE, LadderError, paper_value, write_study

#: (key, label, source, phase, column): what the table and figure follow per reading. ``source``: ``eval`` (the
#: evaluation summary), ``at_init`` (stage 2's history row before its first step), ``history`` (a derived value of
#: the epoch table) or ``spec`` (summary/specialization_readings.csv).
QUANTITIES = (
    ("gamma", "γ of h_flat", "at_init", None, "conv_input_gamma"),
    ("dead_at_init", "dead % before any SAE step", "at_init", None, "dead_pct"),
    ("dead_centred_at_init", "dead % before any step, input centred", "at_init", None, "dead_pct_centred"),
    ("dead_init", "dead % after stage 2 (k_start)", "eval", "init", "dead_pct"),
    ("dead_warmup", "dead % end of warm-up (k_start)", "history", "topk_warmup", "dead_pct"),
    ("dead_topk", "dead % Top-k k_end", "eval", "topk", "dead_pct"),
    ("dead_l1", "dead % L1 end", "eval", "l1", "dead_pct"),
    ("dead_extended", "dead % Top-k extended", "eval", "topk_extended", "dead_pct"),
    ("spec_init", "specialized k_start", "eval", "init", "specialized"),
    ("spec_topk", "specialized Top-k k_end", "eval", "topk", "specialized"),
    ("spec_topk_normalized_pre", "specialized k_end, before Top-k", "spec", "topk", "specialized_normalized_pre_topk"),
    ("spec_topk_nats", "specialized k_end, MI in nats", "spec", "topk", "specialized_nats_topk"),
    ("mig_topk", "MIG Top-k k_end", "eval", "topk", "mig"),
    ("mse_topk", "MSE Top-k k_end", "eval", "topk", "mse"),
    ("l0_topk", "L0 Top-k k_end", "eval", "topk", "active_topk"),
    ("alive_topk", "re-initialised alive 1 epoch later, Top-k (%)", "history", "topk", "reinit_alive_1"),
    ("alive_l1", "re-initialised alive 1 epoch later, L1 (%)", "history", "l1", "reinit_alive_1"),
)
#: The paper's value of a quantity, as (phase, metric) of ``vaesae.studies.ladder.paper_value``.
PAPER = {"dead_topk": ("topk", "dead_pct"), "dead_l1": ("l1", "dead_pct"), "dead_extended": ("topk_extended", "dead_pct"),
         "spec_init": ("init", "specialized"), "spec_topk": ("topk", "specialized"), "mig_topk": ("topk", "mig"),
         "mse_topk": ("topk", "mse")}  # fmt: skip


def _paper_k_start_dead(paper: dict, dataset: str) -> float | None:
    """Table 2's dead % at k_start (the paper's only number before k falls): config.yaml claims.paper.dead_pct_init."""
    return (paper.get("dead_pct_init") or {}).get(dataset)


def read_folder(folder: str | os.PathLike, name: str | None = None) -> dict:
    """One committed folder's rung.yaml, with its ``dir`` and the name its column gets (default: the folder's)."""
    meta_path = Path(folder) / RUNG_FILE
    if not meta_path.is_file():
        raise LadderError(f"{folder} holds no {RUNG_FILE}: not a committed rung or reading")
    meta = yaml.safe_load(meta_path.read_text())
    meta["dir"] = meta_path.parent
    meta["reading"] = name or meta_path.parent.name
    return meta


def read_readings(root: str | os.PathLike) -> list[dict]:
    """Every reading folder under ``root`` (one holding rung.yaml), the literal reading first, then by name."""
    found = [read_folder(meta_path.parent) for meta_path in sorted(Path(root).glob(f"*/{RUNG_FILE}"))]
    if not found:
        raise LadderError(f"no reading folder (*/{RUNG_FILE}) under {root}")
    return sorted(found, key=lambda m: (m["reading"] != "reading-literal", m["reading"]))


def _per_seed(meta: dict) -> pd.DataFrame:
    """dataset x seed x quantity -> value, for one reading folder."""
    from vaesae.report.collect import load_evaluations, load_histories, split_at_init, warmup_scalars

    d = meta["dir"]
    ev = load_evaluations(d / "summary" / "evaluations.csv")
    hist, at_init = split_at_init(load_histories([d / "summary" / "history.csv"]))
    warm = warmup_scalars(hist)
    spec_path = d / "summary" / "specialization_readings.csv"
    spec = pd.read_csv(spec_path) if spec_path.is_file() else pd.DataFrame(columns=["dataset", "seed", "phase"])
    rows = []
    for key, _, source, phase, column in QUANTITIES:
        if source == "eval":
            frame = ev[ev["phase"] == phase]
        elif source == "at_init":
            frame = at_init
        elif source == "spec":
            frame = spec[spec["phase"] == phase]
        elif phase == "topk_warmup":
            frame = warm[warm["phase"] == phase] if len(warm) else warm
        else:  # re-initialised neurons alive one epoch later, as a share of those re-initialised, over the run
            frame = _alive_share(hist, phase)
        if frame is None or not len(frame) or column not in frame:
            continue
        for r in frame.itertuples(index=False):
            value = getattr(r, column)
            rows.append({"dataset": r.dataset, "seed": int(r.seed), "quantity": key,
                         "value": float(value) if value is not None else math.nan})  # fmt: skip
    return pd.DataFrame(rows, columns=["dataset", "seed", "quantity", "value"])


def _alive_share(hist: pd.DataFrame, phase: str) -> pd.DataFrame:
    """Per (dataset, seed): 100 · Σ reinit_alive_1 / Σ reinit over the stage-3 and extended epochs of ``phase``'s
    runs whose re-initialisation has a next epoch (NaN where nothing was re-initialised)."""
    runs = hist[hist["phase"].isin([phase, f"{phase}_extended"])]
    rows = []
    for (dataset, seed), g in runs.groupby(["dataset", "seed"]):
        known = g.dropna(subset=["reinit_alive_1"])
        total = float(known["reinit"].sum()) if "reinit" in known else 0.0
        rows.append({"dataset": dataset, "seed": seed,
                     "reinit_alive_1": 100.0 * float(known["reinit_alive_1"].sum()) / total if total else math.nan})
    return pd.DataFrame(rows, columns=["dataset", "seed", "reinit_alive_1"])


def readings_frame(root: str | os.PathLike | list[dict]) -> pd.DataFrame:
    """reading x dataset x quantity -> mean, std (ddof 1), n over seeds, with the reading's wall time; ``root`` is a
    folder of readings (:func:`read_readings`) or the folders' metadata in column order (:func:`read_folder`)."""
    rows = []
    for order, meta in enumerate(read_readings(root) if isinstance(root, (str, os.PathLike)) else root):
        per_seed = _per_seed(meta)
        for (dataset, quantity), g in per_seed.groupby(["dataset", "quantity"], sort=False):
            mean, std, n = summarize(g["value"])
            rows.append({"order": order, "reading": meta["reading"], "dataset": dataset, "quantity": quantity,
                         "mean": mean, "std": std, "n": n, "wall_s": meta.get("wall_s")})
    return pd.DataFrame(rows, columns=["order", "reading", "dataset", "quantity", "mean", "std", "n", "wall_s"])


def _fmt(mean: float, std: float, key: str) -> str:
    if not np.isfinite(mean):
        return "–"
    digits = 4 if key.startswith("mse") else 3 if key.startswith("mig") else 2 if key == "gamma" else \
        0 if key.startswith("spec") else 1  # fmt: skip
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if np.isfinite(std) else "")


def _paper_cell(paper: dict, key: str, dataset: str) -> str:
    if key in ("dead_at_init", "dead_init"):
        value, k = _paper_k_start_dead(paper, dataset), (paper.get("bound") or {}).get("k_start")
        return "–" if value is None else f"{float(value):.1f} (k = {k})"
    if key not in PAPER:
        return "–"
    return _fmt(paper_value(paper, *PAPER[key], dataset), math.nan, key)


def _wall(meta: dict) -> str:
    return "–" if meta.get("wall_s") is None else f"{meta['wall_s'] / 60:.1f} min"


def quantity_rows(df: pd.DataFrame, names: list[str], paper: dict, dataset: str) -> list[list[str]]:
    """One dataset's table body: one row per quantity (:data:`QUANTITIES`), a column per name, the paper's value."""
    rows = []
    for key, label, *_ in QUANTITIES:
        sub = df[(df["dataset"] == dataset) & (df["quantity"] == key)].set_index("reading")
        if sub.empty:
            continue
        rows.append([label] + [_fmt(sub.loc[n, "mean"], sub.loc[n, "std"], key) if n in sub.index else "–"
                               for n in names] + [_paper_cell(paper, key, dataset)])  # fmt: skip
    return rows


def readings_markdown(root: str | os.PathLike, paper: dict) -> str:
    """Per dataset: one row per quantity, one column per reading, and the paper's value."""
    from vaesae.report.markdown import md_table
    from vaesae.report.style import dataset_label

    readings = read_readings(root)
    df = readings_frame(readings)
    names = [m["reading"] for m in readings]
    first = readings[0]
    vae = {m["reading"]: m.get("vae_sha256") or {} for m in readings}
    shared = len({tuple(sorted(h.items())) for h in vae.values() if h}) == 1
    scale = first.get("scale") or {}
    paper_width = (scale.get("width"), scale.get("h_flat")) == (8192, 4096)
    what = ("the paper's network (8,192 neurons on a 4,096-d h_flat, 10,000 evaluation images), with its training "
            "cut short" if paper_width else
            "not the paper's scale: its h_flat is far narrower, so its input geometry γ is not the paper's")
    out = ["# The readings study: which reading of the paper's text moves which number", "",
           f"Rung `{Path(first['dir']).parent.name}` of the scale ladder on the CPU (procedural data; {what}). "
           "Mean ± std over seeds. Every reading trains from the same stage-1 VAE "
           + ("(the same sha256 in every reading's rung.yaml)." if shared else "(**the VAE hashes differ**).") + "",
           "", "## Readings", ""]
    out.append(md_table(["Reading", "Presets", "Wall"],
                        [[m["reading"], " ".join(Path(p).name for p in m.get("presets", [])[2:]) or "–",
                          _wall(m)] for m in readings]))
    for dataset in [d for d in DATASETS if d in set(df["dataset"])]:
        out += ["", f"## {dataset_label(dataset)}", ""]
        out.append(md_table(["Quantity"] + names + ["paper"], quantity_rows(df, names, paper, dataset)))
    return "\n".join(out) + "\n"


def compare_markdown(metas: list[dict], paper: dict, title: str) -> str:
    """The readings table over any committed folders (:func:`read_folder`), one column each: e.g. one reading on two
    stage-1 VAEs. Says whether the folders share their stage-1 VAE (rung.yaml's sha256)."""
    from vaesae.report.markdown import md_table
    from vaesae.report.style import dataset_label

    df = readings_frame(metas)
    names = [m["reading"] for m in metas]
    hashes = {tuple(sorted((m.get("vae_sha256") or {}).items())) for m in metas}
    out = [f"# {title}", "", "Mean ± std over seeds; the paper's value where it has one. "
           + ("Every folder trains from the same stage-1 VAE." if len(hashes) == 1 else
              "The folders train from different stage-1 VAEs (rung.yaml's sha256)."), "",
           md_table(["Column", "Folder", "Wall"],
                    [[m["reading"], f"`{m['dir']}`", _wall(m)] for m in metas])]
    for dataset in [d for d in DATASETS if d in set(df["dataset"])]:
        out += ["", f"## {dataset_label(dataset)}", "",
                md_table(["Quantity"] + names + ["paper"], quantity_rows(df, names, paper, dataset))]
    return "\n".join(out) + "\n"


#: The dead-% trajectory of the figure: (quantity, x label).
TRAJECTORY = (("dead_at_init", "before\nany step"), ("dead_init", "after\nstage 2"), ("dead_warmup", "end of\nwarm-up"),
              ("dead_topk", "Top-k\nk_end"), ("dead_extended", "Top-k\nextended"))  # fmt: skip


def readings_figure(root: str | os.PathLike, paper: dict):
    """Per dataset: the Top-k dead % from before any SAE step to extended training per reading (the paper's dashed),
    L1's end point; the share of re-initialised neurons alive one epoch later; γ and the centred dead % at init."""
    from vaesae.report.style import apply_style, dataset_label, new_figure

    apply_style()
    readings = read_readings(root)
    df = readings_frame(root)
    datasets = [d for d in DATASETS if d in set(df["dataset"])]
    fig = new_figure(figsize=(13.5, 3.6 * len(datasets) + 0.8))
    axes = fig.subplots(len(datasets), 3, squeeze=False)
    colors = [f"C{i}" for i in range(len(readings))]

    def get(dataset, reading, key):
        s = df[(df["dataset"] == dataset) & (df["reading"] == reading) & (df["quantity"] == key)]
        return (float(s["mean"].iloc[0]), float(s["std"].iloc[0])) if len(s) else (math.nan, math.nan)

    x = np.arange(len(TRAJECTORY))
    width = 0.8 / max(len(readings), 1)
    for i, dataset in enumerate(datasets):
        ax, bars, geo = axes[i]
        for j, m in enumerate(readings):
            mean, std = zip(*(get(dataset, m["reading"], key) for key, _ in TRAJECTORY))
            ax.errorbar(x, mean, yerr=np.nan_to_num(std), color=colors[j], marker="o", ms=4, capsize=3,
                        label=m["reading"])
            l1 = get(dataset, m["reading"], "dead_l1")
            ax.plot([x[3] + 0.15], [l1[0]], color=colors[j], marker="s", ms=5, ls="")
            bars.bar([k + j * width for k in range(2)], [get(dataset, m["reading"], "alive_topk")[0],
                                                        get(dataset, m["reading"], "alive_l1")[0]],
                     width=width, color=colors[j], label=m["reading"])  # fmt: skip
            geo.bar([k + j * width for k in range(2)], [get(dataset, m["reading"], "dead_at_init")[0],
                                                       get(dataset, m["reading"], "dead_centred_at_init")[0]],
                    width=width, color=colors[j], label=m["reading"])  # fmt: skip
        for key, xi, color in (("dead_topk", 3, "k"), ("dead_extended", 4, "k"), ("dead_l1", 3.15, "0.5")):
            pv = paper_value(paper, *PAPER[key], dataset)
            if np.isfinite(pv):  # the paper's L1 end (grey) beside its Top-k k_end (black)
                ax.plot([xi - 0.3, xi + 0.3], [pv, pv], color=color, ls=(0, (2, 2)), lw=1)
        if _paper_k_start_dead(paper, dataset) is not None:
            ax.plot([0.7, 1.3], [float(_paper_k_start_dead(paper, dataset))] * 2, color="k", ls=(0, (2, 2)), lw=1,
                    label="paper (dashed)")
        ax.set_xticks(x)
        ax.set_xticklabels([label for _, label in TRAJECTORY], fontsize=7)
        ax.set_ylim(-2, 102)
        ax.set_title(f"{dataset_label(dataset)}: conv-SAE dead % (Top-k; squares: L1 end, paper's grey)", fontsize=9)
        bars.set_xticks([k + 0.4 - width / 2 for k in range(2)])
        bars.set_xticklabels(["Top-k", "L1"])
        bars.set_ylim(0, 100)
        bars.set_title("re-initialised neurons alive one epoch later (%)", fontsize=9)
        gamma = get(dataset, readings[0]["reading"], "gamma")[0]  # stage 1 is shared: one h_flat for every reading
        geo.set_xticks([k + 0.4 - width / 2 for k in range(2)])
        geo.set_xticklabels(["as trained", "input centred"])
        geo.set_ylim(0, 100)
        geo.set_title(f"dead % before any SAE step (γ of h_flat {gamma:.2f})", fontsize=9)
        if i == 0:
            ax.legend(fontsize=6, loc="best")
    scale = readings[0].get("scale") or {}
    what = ("the paper's width, training cut short" if (scale.get("width"), scale.get("h_flat")) == (8192, 4096)
            else "not the paper's scale")
    fig.suptitle(f"The readings of the paper's text, on one rung of the CPU ladder (procedural data, {what}); "
                 "dashed: the paper's values", fontsize=10)
    return fig


def render_readings(root: str | os.PathLike, paper: dict, out_dir: str | os.PathLike) -> list[Path]:
    """readings.md, readings.csv and readings.png/.pdf under ``out_dir`` (atomic writes)."""
    return write_study(out_dir, "readings", readings_frame(root), readings_markdown(root, paper),
                       readings_figure(root, paper))
