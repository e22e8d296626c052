"""The scale ladder: one rung's committed evidence, and the figure and table across the rungs.

A rung is a preset in ``workflow/presets/ladder/`` stacked on the quick preset. :func:`collect_rung` copies what a
reader needs from its results directory into ``evidence/ladder/<rung>/`` (claims, gates, tables, figures, the
summary CSVs, every run's history.csv, the benchmarks, the resolved config and the command; no checkpoint, no
dataset). :func:`ladder_frame` reads every rung folder back into one tidy table of

    rung x dataset x measurement (k_start, Top-k k_end, L1, Top-k extended) -> mean, std, n over seeds

for dead %, specialized neurons (with their activation-budget bound), MIG and MSE, beside each rung's scale (stage-3
optimizer steps, dictionary width, k) and its convergence gates. :func:`ladder_markdown` and :func:`ladder_figure`
render it with the paper's values marked.
"""

from __future__ import annotations

import glob
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from vaesae import DATASETS
from vaesae.io import atomic_path, write_text
from vaesae.methods import STAGES
from vaesae.report.stats import summarize

RUNG_FILE = "rung.yaml"
#: Result files copied per rung (relative to the results directory; globs).
COPIED = ("claims.md", "claims.csv", "gates.csv", "tables/*.md", "tables/*.csv", "figures/*.png", "summary/*.csv",
          "sweeps/*.csv", "runs/*/*/*/history.csv", "benchmarks/*.tsv", "eval/*/*/*.global.csv")
#: What a variant's evidence copies from the run's own results_dir, where stage 1 lives.
VAE_COPIED = ("runs/*/*/vae/history.csv", "benchmarks/pretrain_*.tsv")
#: The measurements the ladder follows: (phase in summary/evaluations.csv, label).
POINTS = (("init", "k_start"), ("topk", "Top-k k_end"), ("l1", "L1 k_end"), ("topk_extended", "Top-k extended"))
METRICS = ("dead_pct", "dead_floor", "specialized", "specialized_bound", "mig", "mse")
#: The paper's values (config claims.paper key) per (phase, metric), for the marks in the figure and table.
PAPER_KEYS = {("topk", "dead_pct"): "dead_pct_topk", ("l1", "dead_pct"): "dead_pct_l1",
              ("topk_extended", "dead_pct"): "extended_dead_pct", ("topk", "mig"): "mig_topk",
              ("init", "specialized"): "specialized_init", ("topk", "specialized"): "specialized_topk",
              ("topk", "mse"): "mse_topk_range"}


class LadderError(RuntimeError):
    """A rung folder lacks a file the ladder needs (the message names it)."""


def _stage_steps(cfg: dict, dataset: str) -> dict:
    """Optimizer steps per stage for one (dataset, seed) of a resolved config (the split's training images // B)."""
    from vaesae import workflow as wf

    n = wf.n_images(cfg, dataset)
    if dataset == "shapes3d":
        n_val = int(round(n * cfg["data"]["shapes3d_n_val"] / 480_000))
    else:
        n_val = int(round(n * cfg["data"]["val_fraction"]))
    per_epoch = (n - n_val) // cfg["optim"]["batch_size"]
    return {stage: per_epoch * cfg[stage]["epochs"] for stage in STAGES}


def rung_scale(cfg: dict) -> dict:
    """What sets a rung's scale, from its resolved config: steps per stage (dSprites), width, k, lr per stage."""
    lrs = cfg["optim"].get("lr_per_stage") or {}
    steps = _stage_steps(cfg, cfg["datasets"][0])
    return {
        "images": cfg["data"]["subset"],
        "eval_images": cfg["eval"]["n_samples"],
        "dead_threshold": cfg["eval"]["dead_threshold"],
        "width": cfg["model"]["conv_sae_neurons"],
        "h_flat": cfg["model"]["h_channels"] * (64 // 2 ** len(cfg["model"]["encoder_channels"])) ** 2,
        "k_start": cfg["sparsify"]["k_start"],
        "k_end": cfg["sparsify"]["k_end"],
        **{f"steps_{s}": v for s, v in steps.items()},
        **{f"lr_{s}": float(lrs.get(s) or cfg["optim"]["lr"]) for s in STAGES},
        "seeds": len(cfg["seeds"]),
        "methods": ",".join(cfg["methods"]),
    }


def collect_rung(rung: str, presets: list[str], command: str, wall_s: float | None, out: str | os.PathLike,
                 results_dir: str | None = None, chain: str | None = None, note: str | None = None) -> Path:
    """Copy one rung's results into ``out`` and write its ``rung.yaml`` (scale, command, wall time, gates).

    ``chain``: the dataset whose chain (stages 2-4 of every seed and method) ``command`` ran in ``wall_s``; the
    rung is then collected chain by chain, and rung.yaml's ``chains`` keeps every chain collected so far, this one
    and those already in ``out``'s rung.yaml (``wall_s`` is then their sum). ``note``: how the chain ran, when its
    wall time needs saying (a chain resumed from the checkpoint of a run cut off by a session's end)."""
    from vaesae import workflow as wf

    cfg = wf.load_config(*presets)
    paths = wf.Paths.of(cfg)
    res = Path(results_dir or paths.results_dir)
    vae_dir = Path(paths.vae_dir) if results_dir is None else res
    for need in ("claims.md", "claims.csv", "summary/evaluations.csv"):
        if not (res / need).is_file():
            raise LadderError(f"rung {rung}: {res / need} is missing; run the rung first")
    out = Path(out)
    staging = out.with_name(out.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    sources = [(res, pattern) for pattern in COPIED]
    if vae_dir != res:  # a variant (a reading): stage 1 lives in the run's own results_dir, shared by every variant
        sources += [(vae_dir, pattern) for pattern in VAE_COPIED]
    for root, pattern in sources:
        for src in sorted(glob.glob(str(root / pattern))):
            rel = os.path.relpath(src, root)
            if not _of_run(rel, cfg):
                continue
            dst = staging / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    _specialization_readings(res, staging, cfg)
    gates = pd.read_csv(res / "gates.csv") if (res / "gates.csv").is_file() else None
    meta = {"rung": rung, "command": command, "presets": list(presets),
            "wall_s": None if wall_s is None else float(wall_s), "scale": rung_scale(cfg), **_gate_counts(gates),
            "vae_sha256": _vae_hashes(vae_dir, cfg)}
    if chain is not None:
        old = out / RUNG_FILE
        chains = dict((yaml.safe_load(old.read_text()) or {}).get("chains") or {}) if old.is_file() else {}
        chains[chain] = {"command": command, "wall_s": None if wall_s is None else float(wall_s),
                         **({"note": note} if note else {})}
        meta["chains"] = chains
        walls = [c["wall_s"] for c in chains.values()]
        meta["wall_s"] = None if None in walls else float(sum(walls))
    (staging / RUNG_FILE).write_text(yaml.safe_dump(meta, sort_keys=False))
    (staging / "config.resolved.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return out


def _of_run(relpath: str, cfg: dict) -> bool:
    """Does a results file belong to the config's datasets and seeds? A results folder shared by several runs (a
    second seed beside a rung's, one dataset's chain beside another's) holds other runs' files too."""
    others = [d for d in DATASETS if d not in cfg["datasets"]]
    seeds = {int(s) for s in re.findall(r"seed(\d+)", relpath)}
    return not (seeds - {int(s) for s in cfg["seeds"]}) and not any(
        re.search(rf"(^|[/_]){d}([/_.]|$)", relpath) for d in others)


def _vae_hashes(vae_dir: Path, cfg: dict) -> dict:
    """{dataset/seed: sha256 of the stage-1 model.pt}: the same hash in two readings' evidence shows they trained
    from one VAE, bit for bit."""
    import hashlib

    out = {}
    for path in sorted(vae_dir.glob("runs/*/*/vae/model.pt")):
        if not _of_run(str(path.relative_to(vae_dir)), cfg):
            continue
        out[f"{path.parts[-4]}/{path.parts[-3]}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _specialization_readings(res: Path, staging: Path, cfg: dict) -> None:
    """summary/specialization_readings.csv: the conv-SAE specialized count of every evaluation file under each
    specialization reading (normalized MI or nats, on ã after Top-k or ReLU(pre) before it) at the configured
    threshold, from the evaluation files (which the evidence does not keep): reporting choices, no retraining."""
    from vaesae.summary import summarize_evaluations

    files = [f for f in sorted(glob.glob(str(res / "eval/*/*/*.h5"))) if _of_run(os.path.relpath(f, res), cfg)]
    if not files:
        return
    frames = []
    for unit in ("normalized", "nats"):
        df = summarize_evaluations(files, dead_threshold=cfg["eval"]["dead_threshold"],
                                   specialization_threshold=cfg["eval"]["specialization_threshold"], mi_unit=unit)
        frames.append(df[["dataset", "seed", "phase", "specialized_topk", "specialized_pre_topk"]]
                      .rename(columns={"specialized_topk": f"specialized_{unit}_topk",
                                       "specialized_pre_topk": f"specialized_{unit}_pre_topk"}))  # fmt: skip
    out = frames[0].merge(frames[1], on=["dataset", "seed", "phase"])
    (staging / "summary").mkdir(parents=True, exist_ok=True)
    out.to_csv(staging / "summary" / "specialization_readings.csv", index=False)


def _gate_counts(gates: pd.DataFrame | None) -> dict:
    return {"gates_passed": None if gates is None else int((gates["status"] == "pass").sum()),
            "gates_total": None if gates is None else int(len(gates))}


def reclaim_rung(rung_dir: str | os.PathLike) -> list[Path]:
    """Re-judge a committed rung with the current claims and gate rules, from the files in its evidence folder.

    The verdicts and gates of ``claims.md``, ``claims.csv`` and ``gates.csv`` are recomputed by ``vaesae.cli.claims``
    from the rung's own ``summary/``, ``sweeps/thresholds.csv``, pretraining histories and (where collected) SAP/DCI
    rows, with the ``claims`` block of its ``config.resolved.yaml`` completed by the current defaults; rung.yaml's
    gate counts follow. No training or evaluation file is needed, so a rule change never asks for a rerun.
    """
    import json

    from vaesae import workflow as wf
    from vaesae.cli.claims import main as claims_main

    d = Path(rung_dir)
    need = [d / RUNG_FILE, d / "config.resolved.yaml", d / "summary" / "evaluations.csv",
            d / "summary" / "history.csv", d / "sweeps" / "thresholds.csv"]
    for path in need:
        if not path.is_file():
            raise LadderError(f"{d}: {path.name} is missing ({path})")
    resolved = yaml.safe_load((d / "config.resolved.yaml").read_text())
    defaults = wf.load_config()  # keys added to the claims block since the rung ran take their defaults
    cfg = dict(resolved, claims=wf.deep_merge(defaults["claims"], resolved.get("claims") or {}))
    params = wf.rule_params(cfg, "claims")
    pretrain = sorted(str(p) for p in d.glob("runs/*/*/vae/history.csv"))
    if not pretrain:
        raise LadderError(f"{d}: no pretraining history (runs/*/*/vae/history.csv) for the VAE gates")
    argv = ["--evaluations", str(need[2]), "--history", str(need[3]), "--sweep", str(need[4]),
            "--globals", *sorted(str(p) for p in d.glob("eval/*/*/*.global.csv")),
            "--params", json.dumps(params), "--out-md", str(d / "claims.md"), "--out-csv", str(d / "claims.csv"),
            "--out-gates", str(d / "gates.csv"), "--pretrain-history", *pretrain]
    claims_main(argv)
    meta = yaml.safe_load((d / RUNG_FILE).read_text())
    meta.update(_gate_counts(pd.read_csv(d / "gates.csv")))
    with atomic_path(d / RUNG_FILE) as tmp:
        Path(tmp).write_text(yaml.safe_dump(meta, sort_keys=False))
    return [d / "claims.md", d / "claims.csv", d / "gates.csv", d / RUNG_FILE]


def read_rungs(root: str | os.PathLike) -> list[dict]:
    """Every rung folder under ``root`` (a folder holding rung.yaml), and every reading of a rung run reading by
    reading (``<rung>/reading-*/rung.yaml``, ``benchmarks/ladder/run_chain.sh``), ordered by stage-3 steps x width."""
    rungs = []
    found = [*Path(root).glob(f"*/{RUNG_FILE}"), *Path(root).glob(f"*/reading-*/{RUNG_FILE}")]
    for meta_path in sorted(found):
        meta = yaml.safe_load(meta_path.read_text())
        meta["dir"] = meta_path.parent
        rungs.append(meta)
    if not rungs:
        raise LadderError(f"no rung folder (*/{RUNG_FILE}) under {root}")

    def size(m):  # a rung's literal reading before its others
        s = m["scale"]
        return (s["steps_sparsify"] * s["width"], s["lr_sparsify"], m["rung"].split("/reading-")[0],
                not m["rung"].endswith("/reading-literal"), m["rung"])

    return sorted(rungs, key=size)


def ladder_frame(root: str | os.PathLike) -> pd.DataFrame:
    """rung x dataset x phase x metric -> mean, std, n (over seeds), with the rung's scale columns."""
    rows = []
    for order, meta in enumerate(read_rungs(root)):
        path = meta["dir"] / "summary" / "evaluations.csv"
        if not path.is_file():
            raise LadderError(f"rung {meta['rung']}: {path} is missing")
        ev = pd.read_csv(path)
        gates = pd.read_csv(meta["dir"] / "gates.csv") if (meta["dir"] / "gates.csv").is_file() else None
        for (dataset, phase), g in ev.groupby(["dataset", "phase"], sort=False):
            if phase not in dict(POINTS):
                continue
            if gates is not None:
                gd = gates[gates["dataset"] == dataset]
                gate_text = f"{int((gd['status'] == 'pass').sum())}/{len(gd)}"
            else:
                gate_text = "n/a"
            for metric in METRICS:
                if metric not in g:
                    continue
                mean, std, n = summarize(g[metric])
                rows.append({"order": order, "rung": meta["rung"], "dataset": dataset, "phase": phase,
                             "metric": metric, "mean": mean, "std": std, "n": n, "gates": gate_text,
                             "wall_s": meta.get("wall_s"), **meta["scale"]})
    return pd.DataFrame(rows)


def paper_value(paper: dict, phase: str, metric: str, dataset: str) -> float:
    """The paper's mean for (phase, metric, dataset), from the config's claims.paper block; NaN if none."""
    key = PAPER_KEYS.get((phase, metric))
    value = (paper.get(key) or {}).get(dataset) if key else None
    if value is None:
        return math.nan
    if isinstance(value, (list, tuple)):
        return float(np.mean(value)) if key == "mse_topk_range" else float(value[0])
    return float(value)


def _wall(meta: dict) -> str:
    """'28.4 min (2 cores)' from a rung's wall time and the --cores of its command; a rung collected chain by chain
    gives each chain's ('dsprites 41.0 min (1 core), shapes3d ...')."""
    if meta.get("chains"):
        return ", ".join(f"{name} {_wall(c)}" for name, c in meta["chains"].items())
    if meta.get("wall_s") is None:
        return "–"
    found = re.search(r"--cores[ =](\d+)", meta.get("command") or "")
    if not found:
        return f"{meta['wall_s'] / 60:.1f} min"
    cores = found.group(1)
    return f"{meta['wall_s'] / 60:.1f} min ({cores} core{'' if cores == '1' else 's'})"


def _cell(mean, std, metric) -> str:
    if not np.isfinite(mean):
        return "–"
    digits = {"dead_pct": 1, "dead_floor": 1, "specialized": 0, "specialized_bound": 0, "mig": 3, "mse": 4}[metric]
    text = f"{mean:.{digits}f}"
    return text + (f" ± {std:.{digits}f}" if np.isfinite(std) else "")


def verdict_frame(root: str | os.PathLike) -> pd.DataFrame:
    """claim x rung -> verdict, from each rung's claims.csv (claim-level rows)."""
    rows = []
    for meta in read_rungs(root):
        c = pd.read_csv(meta["dir"] / "claims.csv")
        for r in c[c["level"] == "claim"].itertuples():
            rows.append({"rung": meta["rung"], "claim": r.claim, "verdict": r.verdict})
    return pd.DataFrame(rows)


def ladder_markdown(root: str | os.PathLike, paper: dict) -> str:
    """The cross-rung tables: each rung's scale and cost, the measurements per dataset, the verdicts per claim."""
    from vaesae.report.markdown import md_table
    from vaesae.report.style import dataset_label

    rungs = read_rungs(root)
    df = ladder_frame(root)
    out = ["# The scale ladder: what the paper's numbers do as the run grows", "",
           "CPU runs on procedural data, every one trained far shorter than the paper (57,600 stage-3 steps of 512 "
           "images); the rungs grow toward the paper's network, and `r4-paper-width` is it (8,192 neurons on a "
           "4,096-d h_flat, 10,000 evaluation images), run reading by reading. Mean ± std over seeds. Dead = fewer "
           "than 10 firings on the evaluation images, as "
           "the paper's 0.001 on 10,000; with fewer evaluation images that is a higher firing rate, so the dead-% "
           "floor the activation budget forces (1 - floor(k/τ)/M, claims.md audit) is not the paper's 0 %: it is "
           "shown per rung. Gates: convergence gates passed (claims.md \"Convergence gates\").", "",
           "## Rungs", ""]
    out.append(md_table(
        ["Rung", "Images", "Width m (h_flat)", "k", "Steps (pretrain / init / stage 3 / extend)",
         "lr (pretrain / init / stage 3 / extend)", "Seeds", "Wall (Snakemake --cores)", "Gates"],
        [[m["rung"], m["scale"]["images"], f"{m['scale']['width']} ({m['scale']['h_flat']})",
          f"{m['scale']['k_start']} → {m['scale']['k_end']}",
          " / ".join(str(m["scale"][f"steps_{s}"]) for s in STAGES),
          " / ".join(f"{m['scale'][f'lr_{s}']:.2g}" for s in STAGES),
          m["scale"]["seeds"], _wall(m),
          "n/a" if m.get("gates_total") is None else f"{m['gates_passed']}/{m['gates_total']}"] for m in rungs]))
    for dataset in [d for d in DATASETS if d in set(df.get("dataset", []))]:
        out += ["", f"## {dataset_label(dataset)}", ""]
        header = ["Rung", "Gates"] + [f"dead % {label}" for _, label in POINTS] + [
            "dead-% floor k_end (forced)", "specialized k_start", "specialized k_end (bound)", "MIG k_end", "MSE k_end"]
        rows = []
        for m in rungs:
            sub = df[(df["rung"] == m["rung"]) & (df["dataset"] == dataset)]

            def get(phase, metric):
                s = sub[(sub["phase"] == phase) & (sub["metric"] == metric)]
                return (float(s["mean"].iloc[0]), float(s["std"].iloc[0])) if len(s) else (math.nan, math.nan)

            spec, bound = get("topk", "specialized"), get("topk", "specialized_bound")
            gates = sub["gates"].iloc[0] if len(sub) else "n/a"
            rows.append([m["rung"], gates] + [_cell(*get(p, "dead_pct"), "dead_pct") for p, _ in POINTS] + [
                _cell(*get("topk", "dead_floor"), "dead_floor"), _cell(*get("init", "specialized"), "specialized"),
                _cell(*spec, "specialized") + ("" if not np.isfinite(bound[0]) else f" (≤ {bound[0]:.0f})"),
                _cell(*get("topk", "mig"), "mig"), _cell(*get("topk", "mse"), "mse")])
        rows.append(["paper (8,192 neurons)", "–"] + [
            _cell(paper_value(paper, p, "dead_pct", dataset), math.nan, "dead_pct") for p, _ in POINTS] + [
            "0.0 (k/(M·τ) = 50/(8,192 · 0.001) > 1)", _cell(paper_value(paper, "init", "specialized", dataset), math.nan,
                                                           "specialized"),
            _cell(paper_value(paper, "topk", "specialized", dataset), math.nan, "specialized"),
            _cell(paper_value(paper, "topk", "mig", dataset), math.nan, "mig"),
            _cell(paper_value(paper, "topk", "mse", dataset), math.nan, "mse")])
        out.append(md_table(header, rows))
    verdicts = verdict_frame(root)
    if len(verdicts):
        claims = list(dict.fromkeys(verdicts["claim"]))
        out += ["", "## Verdicts per rung", ""]
        table = verdicts.pivot(index="claim", columns="rung", values="verdict")
        names = [m["rung"] for m in rungs]
        out.append(md_table(["Claim"] + names,
                            [[c] + [str(table.loc[c, n]) if n in table.columns and isinstance(table.loc[c, n], str)
                                    else "–" for n in names] for c in claims]))
    return "\n".join(out) + "\n"


def ladder_figure(root: str | os.PathLike, paper: dict):
    """Dead % (k_start, Top-k and L1 at k_end, Top-k extended), specialized count with its bound, MIG and MSE at
    k_end against the rungs (ordered by stage-3 steps x width), one row per dataset; the paper's values dashed."""
    from vaesae.report.style import apply_style, dataset_label, method_color, new_figure

    apply_style()
    rungs = read_rungs(root)
    df = ladder_frame(root)
    datasets = [d for d in DATASETS if d in set(df["dataset"])]
    panels = (("dead_pct", "dead % (conv SAE)"), ("specialized", "specialized neurons"), ("mig", "MIG"),
              ("mse", "MSE (validation)"))
    fig = new_figure(figsize=(4.6 * len(panels), 4.0 * len(datasets) + 0.8))
    axes = fig.subplots(len(datasets), len(panels), squeeze=False)
    x = np.arange(len(rungs))
    labels = [f"{m['rung'].replace('/reading-', ' ')} · {m['scale']['steps_pretrain']}/{m['scale']['steps_sparsify']}"
              f" steps · m={m['scale']['width']}"
              + ("" if m.get("gates_total") is None else f" · gates {m['gates_passed']}/{m['gates_total']}")
              for m in rungs]
    colors = {"init": "0.45", "topk": method_color("topk"), "l1": method_color("l1"),
              "topk_extended": method_color("topk")}
    styles = {"init": ":", "topk": "-", "l1": "-", "topk_extended": "--"}
    phases_for = {"dead_pct": [p for p, _ in POINTS], "specialized": ["init", "topk"], "mig": ["init", "topk", "l1"],
                  "mse": ["init", "topk", "l1"]}
    for i, dataset in enumerate(datasets):
        for j, (metric, title) in enumerate(panels):
            ax = axes[i][j]
            for phase in phases_for[metric]:
                s = (df[(df["dataset"] == dataset) & (df["phase"] == phase) & (df["metric"] == metric)]
                     .set_index("order").reindex(x))
                label = dict(POINTS)[phase]
                ax.errorbar(x, s["mean"], yerr=s["std"].fillna(0), color=colors[phase], ls=styles[phase],
                            marker="o", ms=4, capsize=3, label=label)
                pv = paper_value(paper, phase, metric, dataset)
                if np.isfinite(pv):
                    ax.axhline(pv, color=colors[phase], ls=(0, (2, 2)), lw=1, alpha=0.8)
                    ax.annotate(f"paper {label}", (x[-1], pv), fontsize=6, color=colors[phase], ha="right",
                                va="bottom")
            if metric == "dead_pct":
                f = (df[(df["dataset"] == dataset) & (df["phase"] == "topk") & (df["metric"] == "dead_floor")]
                     .set_index("order").reindex(x))
                ax.plot(x, f["mean"], color=colors["topk"], ls="", marker="_", ms=14, mew=2, alpha=0.7,
                        label="forced floor at k_end")
            if metric == "specialized":
                b = (df[(df["dataset"] == dataset) & (df["phase"] == "topk") & (df["metric"] == "specialized_bound")]
                     .set_index("order").reindex(x))
                ax.plot(x, b["mean"], color=colors["topk"], ls="", marker="v", ms=5, alpha=0.6,
                        label="bound at k_end")
            ax.set_xticks(x)
            ax.set_xticklabels(labels, fontsize=6, rotation=35, ha="right", rotation_mode="anchor")
            ax.set_title(f"{dataset_label(dataset)}: {title}", fontsize=9)
            if metric == "dead_pct":
                ax.set_ylim(-2, 102)
            if metric == "mse":
                ax.set_yscale("log")  # an untrained rung's MSE is ten times the others'
            if i == 0 and j in (0, 1):
                ax.legend(fontsize=6, loc="best")
    fig.suptitle("Scale ladder on the CPU (procedural data; every rung trains far shorter than the paper); steps: "
                 "stage 1 / stage 3; dashed: the paper's values; a rung whose gates fail describes an under-trained "
                 "model", fontsize=10)
    return fig


def write_study(out_dir: str | os.PathLike, stem: str, frame: pd.DataFrame, markdown: str, figure) -> list[Path]:
    """``{stem}.md``, ``{stem}.csv`` and ``{stem}.png/.pdf`` of a study across rungs or readings (atomic writes)."""
    from vaesae.report.style import save_figure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / f"{stem}.csv") as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    write_text(out_dir / f"{stem}.md", markdown)
    png, pdf = save_figure(figure, out_dir / f"{stem}.png")
    return [out_dir / f"{stem}.md", out_dir / f"{stem}.csv", png, pdf]


def render_ladder(root: str | os.PathLike, paper: dict, out_dir: str | os.PathLike) -> list[Path]:
    """ladder.md, ladder.csv and ladder.png/.pdf under ``out_dir`` (atomic writes)."""
    return write_study(out_dir, "ladder", ladder_frame(root), ladder_markdown(root, paper), ladder_figure(root, paper))
