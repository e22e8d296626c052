"""Tables, figures, claim verdicts, their statistics and the render entry points on small synthetic results written
exactly as docs/FORMATS.md describes them (summary/evaluations.csv and summary/history.csv of the summarize rule,
sweeps/thresholds.csv, Snakemake benchmark TSVs)."""

from __future__ import annotations

import ast
import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

try:
    import vaesae  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from vaesae.cli import claims as cli_claims
from vaesae.cli import figures as cli_figures
from vaesae.cli import tables as cli_tables
from vaesae.report import claims, collect, figures, tables
from vaesae.report.catalog import FIGURES
from vaesae.report import stats as rstats

REPO = Path(__file__).resolve().parents[1]
PHASES = ("init", "topk", "l1", "topk_extended")
SPEC_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
DEAD_THRESHOLDS = (0.0005, 0.001, 0.002, 0.005, 0.01)
N_NEURONS = 8192
STAGE3_EPOCHS = 12
EXTEND_EPOCHS = 6

# The config's `claims:` block as the pipeline passes it (rules + the paper's reported values).
CLAIMS_CFG = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())["claims"]
# The thresholds the tables rule passes (the same `claims:` keys).
TABLE_RULES = {key: CLAIMS_CFG[key] for key in ("p_value", "mse_relative_tolerance", "mig_relative_tolerance",
                                                "mig_reference")}


# --------------------------------------------------------------------------------------------------- synthetic data
def eval_values(dataset: str, seed: int, phase: str) -> dict:
    """Deterministic scalar metrics of one evaluation file (close to the paper's numbers)."""
    i = seed - 42
    base = {"dsprites": (34.0, 1200.0, 0.14, 0.0167), "shapes3d": (62.0, 900.0, 0.18, 0.040)}[dataset]
    dead, spec, mig, mse = base
    table = {
        "init": dict(dead_pct=dead / 20 + 0.1 * i, specialized=spec + 10 * i, mig=mig + 0.004 * i, mse=mse),
        "topk": dict(dead_pct=dead + 0.8 * i, specialized=spec / 3.5 + 7 * i, mig=mig + 0.01 * ((-1) ** i),
                     mse=mse * (1 + 0.02 * i)),
        "l1": dict(dead_pct=dead * 1.3 + 1.5 * i, specialized=spec / 6 + 3 * i, mig=mig * 1.1, mse=mse * 1.01),
        "topk_extended": dict(dead_pct=dead + 0.8 * i + (0.3 if dataset == "dsprites" else -2.9) + 0.1 * i,
                              specialized=spec / 3 + 5 * i, mig=mig, mse=mse),
    }[phase]
    k = {"init": 500, "topk": 50, "l1": -1, "topk_extended": 50}[phase]
    table.update(latent_dead_pct=5.0 * (i + 1), latent_specialized=4.0 + i, k=k,
                 k_latent=1 if k == 50 else (-1 if k < 0 else 1))
    return table


def eval_row(dataset: str, seed: int, phase: str, values: dict | None = None) -> dict:
    """One row of summary/evaluations.csv."""
    v = eval_values(dataset, seed, phase) if values is None else values
    if True:
        attrs = {
            "dataset": dataset, "seed": seed, "phase": phase, "method": "l1" if phase == "l1" else
            ("topk" if phase != "init" else "topk"), "k": v["k"], "k_latent": v["k_latent"], "n_neurons": N_NEURONS,
            "n_latent_neurons": 20, "factor_names": ["shape", "scale"], "dead_threshold": 0.001,
            "specialization_threshold": 0.5, "data_source": "procedural", "data_description": f"procedural {dataset}",
        }
        attrs.update({m: float(v[m]) for m in ("mig", "mse", "dead_pct", "specialized", "latent_dead_pct",
                                              "latent_specialized")})
        attrs["specialized_bound"] = 583.0 if v["k"] == 50 else 5833.0
        del attrs["factor_names"]
        return attrs


def k_schedule(t: int, n: int | None = None) -> int:
    n = n or STAGE3_EPOCHS
    warm, hold = max(1, n // 10), max(1, n // 10)
    if t < warm:
        return 500
    if t >= n - hold:
        return 50
    tau = (t - warm) / (n - warm - hold)
    return int(round(50 + 450 * math.cos(math.pi * tau / 2)))


HISTORY_COLS = ["dataset", "seed", "phase", "stage", "method", "epoch", "k", "k_latent", "l1_lambda", "beta", "loss",
                "loss_vae", "loss_sae_conv", "loss_sae_latent", "recon", "kl", "dead_pct", "specialized",
                "latent_dead_pct", "latent_specialized", "mig", "mse", "reinit", "seconds"]


def history_rows(dataset: str, seed: int, phase: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed * 7 + len(dataset) + len(phase))
    start, end, ext = (eval_values(dataset, seed, p) for p in ("init", "topk", "topk_extended"))
    rows = []
    if phase in ("topk", "l1"):
        fin = eval_values(dataset, seed, phase)
        for t in range(STAGE3_EPOCHS):
            frac = t / (STAGE3_EPOCHS - 1)
            k = k_schedule(t) if phase == "topk" else None
            prog = (500 - k) / 450 if phase == "topk" else frac ** 0.5
            rows.append(dict(
                stage="sparsify", method=phase, epoch=t, k=k, k_latent=(1 if k else None),
                l1_lambda=0.01 if phase == "topk" else 0.001 + frac * 0.099,
                dead_pct=start["dead_pct"] + prog * (fin["dead_pct"] - start["dead_pct"]) + rng.normal(0, 0.3),
                specialized=start["specialized"] + prog * (fin["specialized"] - start["specialized"]),
                mig=start["mig"] + frac * (fin["mig"] - start["mig"]) + rng.normal(0, 0.003),
                mse=fin["mse"] * (1 + 0.01 * (1 - frac)),
            ))
    elif phase == "topk_extended":
        for t in range(EXTEND_EPOCHS):
            frac = t / (EXTEND_EPOCHS - 1)
            rows.append(dict(stage="extend", method="topk", epoch=t, k=50, k_latent=1, l1_lambda=0.01,
                             dead_pct=end["dead_pct"] + frac * (ext["dead_pct"] - end["dead_pct"]),
                             specialized=end["specialized"] + frac * (ext["specialized"] - end["specialized"]),
                             mig=ext["mig"], mse=ext["mse"]))
    else:  # init (stage 2)
        for t in range(3):
            rows.append(dict(stage="init", method="none", epoch=t, k=500, k_latent=1, l1_lambda=0.01,
                             dead_pct=start["dead_pct"], specialized=start["specialized"], mig=start["mig"],
                             mse=start["mse"]))
    df = pd.DataFrame(rows)
    df["dataset"], df["seed"], df["phase"] = dataset, seed, phase
    for col in ("beta", "loss", "loss_vae", "loss_sae_conv", "loss_sae_latent", "recon", "kl"):
        df[col] = 1.0
    df["latent_dead_pct"], df["latent_specialized"], df["reinit"], df["seconds"] = 5.0, 4.0, 0, 12.5
    return df[HISTORY_COLS]


def sweep_value(dataset, seed, phase, kind, thr) -> float:
    v = eval_values(dataset, seed, phase)
    if kind == "specialization":
        return float(round(v["specialized"] * (0.5 / thr) ** 2))
    return float(v["dead_pct"] * (1 + 5 * (thr - 0.001)))


def write_run(root: Path, datasets=("dsprites", "shapes3d"), seeds=(42, 43), phases=PHASES,
              benchmarks: bool = True) -> dict:
    """Synthetic results of a run under ``root``; returns the lists of input paths."""
    evals, hists, benches = [], [], []
    sweep_rows = []
    for d in datasets:
        for s in seeds:
            for ph in phases:
                evals.append(eval_row(d, s, ph))
                hists.append(history_rows(d, s, ph))
                for sae in ("conv", "latent"):
                    for kind, thrs in (("specialization", SPEC_THRESHOLDS), ("dead", DEAD_THRESHOLDS)):
                        for thr in thrs:
                            sweep_rows.append(dict(dataset=d, seed=s, phase=ph, sae=sae, kind=kind, threshold=thr,
                                                   value=sweep_value(d, s, ph, kind, thr) / (10 if sae == "latent"
                                                                                             else 1)))
            if benchmarks:
                for stage, variant, minutes in (("pretrain", "shared", 7.5), ("init", "shared", 2.0),
                                                ("sparsify", "topk", 20.0), ("sparsify", "l1", 21.0),
                                                ("extend", "topk", 35.0)):
                    b = root / "benchmarks" / f"{stage}_{d}_seed{s}_{variant}.tsv"
                    b.parent.mkdir(parents=True, exist_ok=True)
                    sec = bench_seconds(d, s, minutes)
                    b.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                                 f"{sec:.4f}\t0:00:00\t100.0\t200.0\t90.0\t95.0\t1.0\t2.0\t50.0\t{sec:.1f}\n")
                    benches.append(b)
    sweep = root / "sweeps" / "thresholds.csv"
    sweep.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(sweep_rows).to_csv(sweep, index=False)
    evaluations, history = root / "summary" / "evaluations.csv", root / "summary" / "history.csv"
    evaluations.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(evals).to_csv(evaluations, index=False)
    pd.concat(hists, ignore_index=True).to_csv(history, index=False)
    return {"evaluations": evaluations, "history": history, "sweep": sweep, "benchmarks": benches}


def bench_seconds(dataset, seed, minutes):
    return 60.0 * minutes * (1.2 if dataset == "shapes3d" else 1.0) + 30.0 * (seed - 42)


def load(run: dict):
    histories = collect.load_histories([run["history"]])
    return (collect.add_warmup(collect.load_evaluations(run["evaluations"]), histories), histories,
            collect.load_sweep(run["sweep"]), collect.load_benchmarks(run["benchmarks"]))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    return write_run(root)


# --------------------------------------------------------------------------------------------------- loaders
def test_loaders_read_formats(full_run):
    scalars, histories, sweep, bench = load(full_run)
    assert len(scalars) == 2 * 2 * 4 + 2 * 2 * 2  # 16 evaluation files + the warm-up point of each stage-3 run
    assert set(scalars.loc[16:, "phase"]) == {"topk_warmup", "l1_warmup"}
    assert set(collect.EVAL_REQUIRED_ATTRS) <= set(scalars.columns)
    row = scalars[(scalars.dataset == "shapes3d") & (scalars.seed == 43) & (scalars.phase == "topk")].iloc[0]
    assert row["dead_pct"] == pytest.approx(eval_values("shapes3d", 43, "topk")["dead_pct"])
    assert isinstance(row["dataset"], str) and row["k"] == 50
    assert len(histories) == 2 * 2 * (3 + 2 * STAGE3_EPOCHS + EXTEND_EPOCHS)
    assert histories.loc[histories.phase == "l1", "k"].isna().all()
    assert set(sweep["kind"]) == {"specialization", "dead"}
    assert list(bench.columns) == ["stage", "dataset", "seed", "variant", "seconds"]
    b = bench[(bench.stage == "sparsify") & (bench.dataset == "dsprites") & (bench.seed == 43)
              & (bench.variant == "l1")]
    assert b["seconds"].iloc[0] == pytest.approx(bench_seconds("dsprites", 43, 21.0), abs=1e-3)


def test_loader_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"dataset": ["dsprites"]}).to_csv(bad, index=False)
    with pytest.raises(collect.ReportInputError, match=r"bad\.csv.*seed"):
        collect.load_evaluations(bad)
    with pytest.raises(collect.ReportInputError, match="missing.csv"):
        collect.load_evaluations(tmp_path / "missing.csv")
    hist = tmp_path / "history.csv"
    pd.DataFrame({"dataset": ["dsprites"], "seed": [42]}).to_csv(hist, index=False)
    with pytest.raises(collect.ReportInputError, match=r"history\.csv.*phase"):
        collect.load_histories([hist])
    odd = tmp_path / "sparsify_dsprites_42.tsv"
    odd.write_text("s\n1\n")
    with pytest.raises(collect.ReportInputError, match="sparsify_dsprites_42.tsv"):
        collect.load_benchmarks([odd])
    sw = tmp_path / "thresholds.csv"
    pd.DataFrame({"dataset": ["d"], "value": [1]}).to_csv(sw, index=False)
    with pytest.raises(collect.ReportInputError, match=r"thresholds\.csv.*seed"):
        collect.load_sweep(sw)
    assert collect.parse_benchmark_name("extend_my_data_seed7_topk.tsv") == {
        "stage": "extend", "dataset": "my_data", "seed": 7, "variant": "topk"}


# --------------------------------------------------------------------------------------------------- tables
def cell(df, **keys):
    sel = np.ones(len(df), bool)
    for k, v in keys.items():
        sel &= (df[k] == v).to_numpy()
    assert sel.sum() == 1, keys
    return df[sel].iloc[0]


def test_table_values_match_hand_computed(full_run):
    scalars, histories, sweep, bench = load(full_run)
    t = tables.build_tables(scalars, histories, sweep, bench, **TABLE_RULES)
    assert list(t) == [f"table{i}" for i in range(1, 9)]

    # Table 1: dSprites Top-k dead % and Shapes3D L1 MIG, latent columns present
    vals = [eval_values("dsprites", s, "topk")["dead_pct"] for s in (42, 43)]
    c = cell(t["table1"], dataset="dsprites", method="topk", metric="Dead (%)")
    assert c["mean"] == pytest.approx(np.mean(vals)) and c["std"] == pytest.approx(np.std(vals, ddof=1))
    assert c["n"] == 2
    vals = [eval_values("shapes3d", s, "l1")["mig"] for s in (42, 43)]
    c = cell(t["table1"], dataset="shapes3d", method="l1", metric="MIG")
    assert c["mean"] == pytest.approx(np.mean(vals)) and c["std"] == pytest.approx(np.std(vals, ddof=1))
    assert {"Latent SAE dead (%)", "Latent SAE specialized"} <= set(t["table1"]["metric"])

    # Table 2: k labels from the data, complexity factor, MIG change label
    t2 = t["table2"]
    assert "Dead neurons at k=500, end of stage 2 (%)" in set(t2["metric"])
    assert "Specialized at k=50 (Top-k)" in set(t2["metric"]) and "MIG at k=500, end of warm-up" in set(t2["metric"])
    ratio = cell(t2, dataset="shapes3d", metric="Complexity scaling factor (dead % / dSprites dead %, Top-k)")
    d_mean = np.mean([eval_values("dsprites", s, "topk")["dead_pct"] for s in (42, 43)])
    s_mean = np.mean([eval_values("shapes3d", s, "topk")["dead_pct"] for s in (42, 43)])
    assert ratio["mean"] == pytest.approx(s_mean / d_mean)
    mig = t2[t2["metric"].str.startswith("MIG change") & (t2["dataset"] == "dsprites")].iloc[0]
    a = [eval_values("dsprites", s, "init")["mig"] for s in (42, 43)]
    b = [eval_values("dsprites", s, "topk")["mig"] for s in (42, 43)]
    assert mig["mean"] == pytest.approx(np.mean(np.subtract(b, a)))
    rel = (np.array(b) - np.array(a)) / np.array(a)  # the equivalence rule (TOST) on the relative change
    half = stats.t.ppf(0.95, len(rel) - 1) * rel.std(ddof=1) / np.sqrt(len(rel))
    lo, hi = rel.mean() - half, rel.mean() + half
    word = ("stable" if -0.1 < lo and hi < 0.1 else ("decrease" if rel.mean() < 0 else "increase")
            if lo > 0.1 or hi < -0.1 else "undecided")  # fmt: skip
    assert mig["text"].startswith(word) and f"{lo:+.0%} to {hi:+.0%}" in mig["text"]
    assert "end of stage 2) [C3 uses this]" in mig["metric"]
    # the warm-up point: the last stage-3 epoch at k_start (epochs 0 and 1 of the synthetic schedule are at k = 500)
    assert [k_schedule(t) for t in range(3)] == [500, 500, 494]
    w = [histories[(histories.dataset == "dsprites") & (histories.seed == s) & (histories.phase == "topk")
                   & (histories.epoch == 1)]["mig"].iloc[0] for s in (42, 43)]  # fmt: skip
    warm = cell(t2, dataset="dsprites", metric="MIG change (k=50 - k=500, end of warm-up)")
    assert warm["mean"] == pytest.approx(np.mean(np.subtract(b, w)))
    by_warmup = tables.build_tables(scalars, histories, sweep, bench, **{**TABLE_RULES, "mig_reference": "warmup"})
    assert "MIG change (k=50 - k=500, end of warm-up) [C3 uses this]" in set(by_warmup["table2"]["metric"])
    with pytest.raises(ValueError, match="mig_reference"):
        tables.build_tables(scalars, histories, sweep, bench, **{**TABLE_RULES, "mig_reference": "stage1"})
    c3 = claims.evaluate_claims(scalars, histories, sweep, {**CLAIMS_CFG, "mig_reference": "warmup"})
    c3 = c3[(c3.claim == "C3") & (c3.dataset == "dsprites")].iloc[0]
    assert c3["condition"] == "(topk - topk_warmup) / topk_warmup"
    assert c3["measured_mean"] == pytest.approx(np.mean((np.array(b) - np.array(w)) / np.array(w)))
    # Table 4: the activation-budget bound next to the counts; every table names its data
    assert {"dsprites", "dsprites|bound"} <= set(t["table4"]["dataset"])
    assert all("Data: dSprites: procedural" in df.attrs["notes"][0] for df in t.values())

    # Table 3: change in points and specialized change %
    t3 = t["table3"]
    start = np.array([eval_values("shapes3d", s, "topk")["dead_pct"] for s in (42, 43)])
    end = np.array([eval_values("shapes3d", s, "topk_extended")["dead_pct"] for s in (42, 43)])
    c = cell(t3, dataset="shapes3d", metric="Dead change (points)")
    assert c["mean"] == pytest.approx(np.mean(end - start)) and c["std"] == pytest.approx(np.std(end - start, ddof=1))
    s0 = np.array([eval_values("dsprites", s, "topk")["specialized"] for s in (42, 43)])
    s1 = np.array([eval_values("dsprites", s, "topk_extended")["specialized"] for s in (42, 43)])
    assert cell(t3, dataset="dsprites", metric="Specialized change (%)")["mean"] == pytest.approx(
        np.mean((s1 - s0) / s0 * 100))

    # Tables 4 and 5: sweep means over seeds, conv SAE, phase topk
    c = cell(t["table4"], dataset="dsprites", threshold=0.3)
    vals = [sweep_value("dsprites", s, "topk", "specialization", 0.3) for s in (42, 43)]
    assert c["mean"] == pytest.approx(np.mean(vals)) and c["std"] == pytest.approx(np.std(vals, ddof=1))
    assert "default" in cell(t["table4"], dataset="dsprites", threshold=0.5)["threshold_label"]
    c = cell(t["table5"], dataset="shapes3d", threshold=0.01)
    assert c["mean"] == pytest.approx(np.mean([sweep_value("shapes3d", s, "topk", "dead", 0.01) for s in (42, 43)]))
    assert "default" in cell(t["table5"], dataset="shapes3d", threshold=0.001)["threshold_label"]

    # Table 6: range across seeds and an assessment
    mses = [eval_values("shapes3d", s, "topk")["mse"] for s in (42, 43)]
    rng = cell(t["table6"], dataset="shapes3d", metric="MSE range (across seeds)")["text"]
    assert rng == f"{min(mses):.4f} - {max(mses):.4f}"
    assert cell(t["table6"], dataset="shapes3d", metric="Assessment")["text"].startswith("Stable")

    # Table 7: minutes per stage and per-seed totals
    t7 = t["table7"]
    c = cell(t7, dataset="shapes3d", stage="sparsify", variant="topk")
    mins = [bench_seconds("shapes3d", s, 20.0) / 60 for s in (42, 43)]
    assert c["mean"] == pytest.approx(np.mean(mins)) and c["std"] == pytest.approx(np.std(mins, ddof=1))
    total = [sum(bench_seconds("dsprites", s, m) for m in (7.5, 2.0, 20.0, 35.0)) / 60 for s in (42, 43)]
    assert cell(t7, dataset="dsprites", stage="grand_total")["mean"] == pytest.approx(np.mean(total))


def test_tables_written_with_markdown(full_run, tmp_path):
    t = tables.build_tables(*load(full_run), **TABLE_RULES)
    tables.write_tables(t, tmp_path)
    for i in range(1, 9):
        csv = pd.read_csv(tmp_path / f"table{i}.csv")
        assert {"mean", "std", "n"} <= set(csv.columns)
        md = (tmp_path / f"table{i}.md").read_text()
        assert md.startswith(f"## Table {i}." if i < 8 else "## Table 8 (beyond the paper).")
        assert "±" in md
    md1 = (tmp_path / "table1.md").read_text()
    assert "| dSprites | Top-k |" in md1 and "Latent SAE dead (%)" in md1
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries
    # round-trip of the machine-readable numbers
    csv = pd.read_csv(tmp_path / "table1.csv")
    back = csv[(csv.dataset == "dsprites") & (csv.method == "topk") & (csv.metric == "MSE")].iloc[0]
    assert back["mean"] == pytest.approx(cell(t["table1"], dataset="dsprites", method="topk", metric="MSE")["mean"])


def test_to_markdown_single_seed_blank_std():
    df = tables._frame([tables._cell(1.5, math.nan, 1, fmt=".1f", metric="m", dataset="dsprites"),
                        tables._cell(2.0, 0.5, 3, fmt=".1f", metric="m", dataset="shapes3d")],
                       ["metric"], "dataset", "x")
    md = tables.to_markdown(df)
    assert "| m | 1.5 (n=1) | 2.0 ± 0.5 |" in md
    assert "| Metric | dSprites | Shapes3D |" in md


# --------------------------------------------------------------------------------------------------- partial runs
def test_missing_dataset_and_single_seed(tmp_path):
    run = write_run(tmp_path / "in", datasets=("dsprites",), seeds=(42,), phases=("init", "topk"),
                    benchmarks=False)
    scalars, histories, sweep, bench = load(run)
    t = tables.build_tables(scalars, histories, sweep, bench, **TABLE_RULES)
    c = cell(t["table1"], dataset="dsprites", method="topk", metric="Dead (%)")
    assert c["n"] == 1 and math.isnan(c["std"])
    assert "shapes3d" not in set(t["table1"]["dataset"])
    assert t["table7"].empty
    tables.write_tables(t, tmp_path / "tables")
    assert "No data" in (tmp_path / "tables" / "table7.md").read_text()
    assert "±" not in (tmp_path / "tables" / "table3.md").read_text().split("\n- ")[0]

    out = tmp_path / "fig"
    figures.make_all_figures(histories, sweep, scalars, out, datasets=["dsprites", "shapes3d"], dead_threshold=0.001,
                             specialization_threshold=0.5)
    for i in range(1, 13):
        assert (out / f"figure{i:02d}.png").stat().st_size > 5000
        assert (out / f"figure{i:02d}.pdf").stat().st_size > 1000

    res = claims.evaluate_claims(scalars, histories, sweep, CLAIMS_CFG)
    top = res[res.level == "claim"].set_index("claim")
    assert list(top.index) == [f"C{i}" for i in range(1, 9)]
    assert (top["verdict"] == "inconclusive").all()
    assert "too few seeds" in top.loc["C1", "reason"]
    assert top.loc["C6", "reason"]  # no Shapes3D: needs both datasets (or no data)
    md = claims.claims_markdown(res, CLAIMS_CFG["contradictions"])
    assert "inconclusive (too few seeds)" in md

    # nothing at all: every table and figure still rendered
    empty = (collect.load_evaluations(None), collect.load_histories([]), collect.load_sweep(None),
             collect.load_benchmarks([]))
    tables.write_tables(tables.build_tables(*empty, **TABLE_RULES), tmp_path / "empty")
    assert len(list((tmp_path / "empty").glob("table*.md"))) == 8
    fig = FIGURES["figure05"].build({"histories": empty[1]}, {"datasets": None})
    assert any("no data for dSprites, Shapes3D in this run" in t.get_text() for ax in fig.axes for t in ax.texts)
    res = claims.evaluate_claims(*empty[:3], CLAIMS_CFG)
    assert (res[res.level == "claim"]["verdict"] == "inconclusive").all()


# --------------------------------------------------------------------------------------------------- figures
def test_figures_render_in_worker_processes_and_a_failing_one_fails_the_call(monkeypatch, tmp_path):
    from matplotlib.figure import Figure

    pids = tmp_path / "pids.txt"

    def stand_in(*args, **kwargs):  # cheap: only the process plumbing is under test
        with open(pids, "a") as f:
            f.write(f"{os.getpid()}\n")
        return Figure()

    def broken(*args, **kwargs):
        if kwargs.get("number") == 7:
            raise RuntimeError("figure 7 cannot be drawn")
        return stand_in()

    out = tmp_path / "figs"
    for name in {e.function.partition(":")[2] for e in FIGURES.values()}:  # every builder of the catalog
        monkeypatch.setattr(figures, name, broken)
    with pytest.raises(RuntimeError, match="figure 7 cannot be drawn"):
        figures.make_all_figures(None, None, None, out, workers=2, dead_threshold=0.001, specialization_threshold=0.5)
    drawn_in = set(pids.read_text().split())
    assert drawn_in and str(os.getpid()) not in drawn_in  # drawn in forked workers, not in the caller
    assert not (out / "figure07.png").exists()
    assert not [p for p in out.iterdir() if p.suffix not in (".png", ".pdf")]  # nothing half-written


def test_all_figures_written(full_run, tmp_path):
    from matplotlib.image import imread

    scalars, histories, sweep, _ = load(full_run)
    pngs = figures.make_all_figures(histories, sweep, scalars, tmp_path, datasets=["dsprites", "shapes3d"],
                                    dead_threshold=0.001, specialization_threshold=0.5)
    assert [p.name for p in pngs] == [f"figure{i:02d}.png" for i in range(1, 13)]
    # two forked workers (the figures rule's threads) write the same bytes, listed in figure order
    par = figures.make_all_figures(histories, sweep, scalars, tmp_path / "par", datasets=["dsprites", "shapes3d"],
                                   dead_threshold=0.001, specialization_threshold=0.5, workers=2)
    assert [p.name for p in par] == [p.name for p in pngs]
    for a, b in zip(pngs, par):
        assert a.read_bytes() == b.read_bytes()
        assert a.with_suffix(".pdf").read_bytes() == b.with_suffix(".pdf").read_bytes()
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
        img = imread(png)
        assert img.shape[0] > 300 and img.shape[1] > 600
        assert img[..., :3].std() > 0.05  # not a blank canvas
        assert png.stat().st_size > 30_000
    fig = FIGURES["figure10"].build({"sweep": sweep}, {"dead_threshold": 0.001, "specialization_threshold": 0.5})
    dashed = [ln for ax in fig.axes for ln in ax.lines if ln.get_linestyle() == "--"
              and np.allclose(ln.get_xdata(), ln.get_xdata()[0])]
    assert {round(float(ln.get_xdata()[0]), 4) for ln in dashed} == {0.5, 0.001}
    fig = FIGURES["figure08"].build({"histories": histories})
    vline = [ln for ln in fig.axes[0].lines if ln.get_label() == "extension begins"][0]
    assert vline.get_xdata()[0] == pytest.approx(STAGE3_EPOCHS - 0.5)
    assert "dSprites" in fig._suptitle.get_text()


# --------------------------------------------------------------------------------------------------- claims
def claim_run(tmp_path, seeds, shift=0.0):
    """A run whose dead % is the paper's plus ``shift`` points (both datasets)."""
    run = write_run(tmp_path, seeds=seeds, benchmarks=False)
    ev = pd.read_csv(run["evaluations"])
    for idx, row in ev.iterrows():
        if row["phase"] == "topk":
            i = int(row["seed"]) - 42
            ev.loc[idx, "dead_pct"] = CLAIMS_CFG["paper"]["dead_pct_topk"][row["dataset"]][0] + shift + 0.5 * (i - 1)
    ev.to_csv(run["evaluations"], index=False)
    return load(run)


def test_claims_reproduced_and_not(tmp_path):
    scalars, histories, sweep, _ = claim_run(tmp_path / "ok", seeds=(42, 43, 44))
    res = claims.evaluate_claims(scalars, histories, sweep, CLAIMS_CFG)
    det = res[res.level == "detail"]
    c1 = det[det.claim == "C1"].set_index("dataset")
    assert (c1["verdict"] == "reproduced").all()
    assert c1.loc["dsprites", "measured_mean"] == pytest.approx(34.4)
    assert c1.loc["dsprites", "n"] == 3 and "(n=3)" in c1.loc["dsprites", "measured"]
    # C3: the paired t-test is scipy's (informative); the verdict is the equivalence test (TOST) on the relative change
    for d in ("dsprites", "shapes3d"):
        a = [eval_values(d, s, "init")["mig"] for s in (42, 43, 44)]
        b = [eval_values(d, s, "topk")["mig"] for s in (42, 43, 44)]
        ref = stats.ttest_rel(a, b)
        row = det[(det.claim == "C3") & (det.dataset == d)].iloc[0]
        assert row["p_value"] == pytest.approx(ref.pvalue) and row["statistic"] == pytest.approx(ref.statistic)
        diff = np.subtract(b, a)
        assert row["effect_size"] == pytest.approx(diff.mean() / diff.std(ddof=1))
        rel = diff / np.array(a)
        p_low = stats.ttest_1samp(rel, -0.1, alternative="greater").pvalue
        p_high = stats.ttest_1samp(rel, 0.1, alternative="less").pvalue
        out = min(stats.ttest_1samp(rel, 0.1, alternative="greater").pvalue,
                  stats.ttest_1samp(rel, -0.1, alternative="less").pvalue)  # fmt: skip
        assert row["verdict"] == ("reproduced" if max(p_low, p_high) < 0.05 else "not reproduced" if out < 0.05
                                  else "inconclusive")  # fmt: skip
        assert row["measured_mean"] == pytest.approx(rel.mean())
    top = res[res.level == "claim"].set_index("claim")
    assert top.loc["C8", "verdict"] == "reproduced"  # specialized falls on both datasets
    assert top.loc["C7", "verdict"] == "reproduced"  # synthetic sweep collapses at every threshold
    assert top.loc["C4", "verdict"] == "reproduced"  # MSE changes by 1 % over stage 3
    assert top.loc["C2", "verdict"] == "reproduced"
    assert set(res["verdict"]) <= set(claims.VERDICTS)

    scalars, histories, sweep, _ = claim_run(tmp_path / "bad", seeds=(42, 43, 44), shift=-12.0)
    res = claims.evaluate_claims(scalars, histories, sweep, CLAIMS_CFG)
    top = res[res.level == "claim"].set_index("claim")
    assert top.loc["C1", "verdict"] == "not reproduced"
    # C6 ratio shapes3d/dsprites moves away from 1.8 when both shift down by 12 points
    r = (62.7 - 12) / (34.4 - 12)
    c6 = res[(res.claim == "C6") & (res.condition == "topk")].iloc[0]
    assert c6["measured_mean"] == pytest.approx(r)
    assert c6["verdict"] == ("reproduced" if abs(r / 1.8 - 1) <= 0.25 else "not reproduced")

    # C7 fails when one threshold does not show the collapse
    sw = sweep.copy()
    sel = (sw.phase == "topk") & (sw.kind == "specialization") & np.isclose(sw.threshold, 0.8) & (sw.sae == "conv")
    sw.loc[sel, "value"] = 1e6
    res = claims.evaluate_claims(scalars, histories, sw, CLAIMS_CFG)
    c7 = res[(res.claim == "C7") & (res.level == "claim")].iloc[0]
    assert c7["verdict"] == "not reproduced" and "specialization 0.8" in c7["measured"]
    # no init rows in the sweep: C7 cannot be judged
    res = claims.evaluate_claims(scalars, histories, sweep[sweep.phase != "init"], CLAIMS_CFG)
    assert res[(res.claim == "C7") & (res.level == "claim")].iloc[0]["verdict"] == "inconclusive"


def test_claims_inconclusive_with_one_seed(tmp_path):
    scalars, histories, sweep, _ = claim_run(tmp_path, seeds=(42,))
    res = claims.evaluate_claims(scalars, histories, sweep, CLAIMS_CFG)
    assert (res["verdict"] == "inconclusive").all()
    c1 = res[(res.claim == "C1") & (res.level == "detail")].iloc[0]
    assert c1["n"] == 1 and "too few seeds" in c1["reason"]
    md = claims.claims_markdown(res, ["first", "second", "third"])
    assert "## The paper's internal contradictions" in md and "- third" in md
    # lowering min_seeds lets the same single seed be judged
    res = claims.evaluate_claims(scalars, histories, sweep, {**CLAIMS_CFG, "min_seeds": 1})
    assert res[(res.claim == "C1") & (res.level == "detail")].iloc[0]["verdict"] == "reproduced"


def test_config_claims_block_is_usable(full_run):
    """config.yaml's `claims:` block (rules, the paper's values, contradictions) is accepted as is."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())["claims"]
    scalars, histories, sweep, _ = load(full_run)
    res = claims.evaluate_claims(scalars, histories, sweep, cfg)
    assert not res[res.level == "detail"]["paper_value"].str.contains("not in config").any()
    assert len(cfg.get("contradictions", [])) == 5 and "tied_sae" in cfg["contradictions"][-1]
    assert any("95.3% Dead Neurons from k=500" in c and "4.8 %" in c for c in cfg["contradictions"])


# --------------------------------------------------------------------------------------------------- CLI
def common_args(run: dict) -> list[str]:
    return ["--evaluations", str(run["evaluations"]), "--history", str(run["history"]), "--sweep", str(run["sweep"])]


def test_cli_writes_every_output(full_run, tmp_path):
    common = common_args(full_run)
    assert cli_tables.main([*common, "--benchmarks", *map(str, full_run["benchmarks"]), "--params",
                            json.dumps(TABLE_RULES), "--outdir", str(tmp_path / "tables")]) == 0
    for i in range(1, 9):
        assert (tmp_path / "tables" / f"table{i}.csv").is_file() and (tmp_path / "tables" / f"table{i}.md").is_file()
    # the CLI's numbers are build_tables' on the same inputs, with the same thresholds
    expected = tables.build_tables(*load(full_run), **TABLE_RULES)
    for name in ("table2", "table6", "table7"):
        csv = pd.read_csv(tmp_path / "tables" / f"{name}.csv")
        assert csv["mean"].to_numpy() == pytest.approx(expected[name]["mean"].to_numpy(), nan_ok=True)
        assert [t if isinstance(t, str) else "" for t in csv["text"]] == [
            t if isinstance(t, str) else "" for t in expected[name]["text"]]
    params = json.dumps({"datasets": ["dsprites"], "dead_threshold": 0.002, "specialization_threshold": 0.4})
    assert cli_figures.main([*common, "--params", params, "--outdir", str(tmp_path / "figs"), "--threads", "2"]) == 0
    for i in range(1, 13):
        assert (tmp_path / "figs" / f"figure{i:02d}.png").is_file()
        assert (tmp_path / "figs" / f"figure{i:02d}.pdf").is_file()
    assert cli_claims.main([*common, "--params", json.dumps(CLAIMS_CFG), "--out-md", str(tmp_path / "claims.md"),
                            "--out-csv", str(tmp_path / "claims.csv")]) == 0
    df = pd.read_csv(tmp_path / "claims.csv")
    assert set(df.loc[df.level == "claim", "claim"]) == {f"C{i}" for i in range(1, 9)}
    assert set(df["verdict"]) <= set(claims.VERDICTS)
    ref = claims.evaluate_claims(*load(full_run)[:3], CLAIMS_CFG)
    assert list(df["verdict"]) == list(ref["verdict"])
    assert df["p_value"].to_numpy() == pytest.approx(ref["p_value"].to_numpy(), nan_ok=True)
    assert CLAIMS_CFG["contradictions"][0] in (tmp_path / "claims.md").read_text()
    assert not list(tmp_path.rglob(".*.tmp"))  # atomic writes leave no temporaries
    with pytest.raises(SystemExit):
        cli_claims.main([*common, "--params", "[1]", "--out-md", "x", "--out-csv", "y"])


def test_cli_thresholds_are_required(full_run, tmp_path):
    common = [*common_args(full_run), "--outdir", str(tmp_path / "tables")]
    for key in TABLE_RULES:
        params = json.dumps({k: v for k, v in TABLE_RULES.items() if k != key})
        with pytest.raises(SystemExit, match=rf"claims\.{key}"):
            cli_tables.main([*common, "--params", params])
    with pytest.raises(SystemExit, match="claims.p_value"):
        cli_tables.main(common)  # no --params at all
    with pytest.raises(SystemExit, match="unknown --params key.*dead_threshold"):
        cli_tables.main([*common, "--params", json.dumps({**TABLE_RULES, "dead_threshold": 0.001})])
    assert not (tmp_path / "tables").exists()  # nothing written before the check
    cfg = {k: v for k, v in CLAIMS_CFG.items() if k != "mig_relative_tolerance"}
    with pytest.raises(SystemExit, match="claims.mig_relative_tolerance"):
        cli_claims.main([*common_args(full_run), "--params", json.dumps(cfg), "--out-md", str(tmp_path / "c.md"),
                         "--out-csv", str(tmp_path / "c.csv")])
    with pytest.raises(SystemExit, match="missing.csv"):
        cli_tables.main(["--evaluations", str(tmp_path / "missing.csv"), "--params", json.dumps(TABLE_RULES),
                         "--outdir", str(tmp_path / "t")])


def test_claims_rules_come_from_config_only():
    with pytest.raises(KeyError, match="claims.min_seeds"):
        claims.evaluate_claims(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), {"paper": {}})


def test_global_metrics_are_merged_and_reported(full_run, tmp_path):
    scalars, histories, sweep, benchmarks = load(full_run)
    rows = []
    for (d, seed, phase), _ in scalars.groupby(["dataset", "seed", "phase"]):
        path = tmp_path / f"{d}_{seed}_{phase}.global.csv"
        value = 0.3 if phase == "init" else 0.1
        pd.DataFrame([{"dataset": d, "seed": seed, "phase": phase, "sap": value, "dci_disentanglement": value,
                       "dci_completeness": 0.5, "dci_informativeness": 0.9}]).to_csv(path, index=False)  # fmt: skip
        rows.append(path)
    merged = collect.merge_global_metrics(scalars, rows)
    assert len(merged) == len(scalars) and (merged.loc[merged.phase == "topk", "sap"] == 0.1).all()
    t2 = tables.table2(merged, p_value=TABLE_RULES["p_value"],
                       mig_relative_tolerance=TABLE_RULES["mig_relative_tolerance"])
    sap_change = t2[(t2["metric"].str.startswith("SAP change")) & (t2["dataset"] == "dsprites")]
    assert sap_change["mean"].iloc[0] == pytest.approx(-0.2)
    t1 = tables.table1(merged)
    assert t1.loc[t1["metric"] == "SAP", "mean"].dropna().eq(0.1).all()
    bad = tmp_path / "bad.csv"
    bad.write_text("dataset,seed\nx,1\n")
    with pytest.raises(collect.ReportInputError, match="missing columns"):
        collect.merge_global_metrics(scalars, [bad])


# --------------------------------------------------------------------------------------------------- stats
def scalars_frame(dataset: str, seeds, mig_init, mig_topk) -> pd.DataFrame:
    """Evaluation scalars (phases init and topk) of ``seeds`` with the given MIG values, as load_eval_scalars gives."""
    rows = []
    for seed, m0, m1 in zip(seeds, mig_init, mig_topk):
        for phase, mig in (("init", m0), ("topk", m1)):
            v = eval_values(dataset, seed, phase)
            rows.append({**v, "mig": mig, "dataset": dataset, "seed": seed, "phase": phase, "method": "topk",
                         "n_neurons": N_NEURONS, "dead_threshold": 0.001, "specialization_threshold": 0.5})
    return pd.DataFrame(rows, columns=list(collect.EVAL_COLUMNS))


def mig_label(t: dict, dataset: str) -> str:
    t2 = t["table2"]
    return t2[t2["metric"].str.startswith("MIG change") & (t2["dataset"] == dataset)].iloc[0]["text"]


def c3_verdict(res: pd.DataFrame, dataset: str) -> str:
    return res[(res.claim == "C3") & (res.level == "detail") & (res.dataset == dataset)].iloc[0]["verdict"]


def test_table2_and_c3_agree_when_the_tests_disagree():
    """Six seeds whose MIG rises a little on five and a lot on one: the paired t-test sees no significant change
    (p ≈ 0.35), the Wilcoxon signed-rank test does (p = 2/64). Neither decides: the equivalence interval of the
    relative change is far wider than the margin, so Table 2 says "undecided" and C3 "inconclusive", together."""
    seeds = range(42, 48)
    diffs = [0.001, 0.002, 0.003, 0.004, 0.005, 0.5]
    scalars = scalars_frame("dsprites", seeds, [0.14] * 6, [0.14 + d for d in diffs])
    a, b = np.full(6, 0.14), 0.14 + np.array(diffs)
    assert rstats.WILCOXON_MIN_N == 6
    assert stats.ttest_rel(a, b).pvalue >= 0.05 > stats.wilcoxon(a, b).pvalue  # the premise: the two tests disagree
    t = tables.build_tables(scalars, **TABLE_RULES)
    res = claims.evaluate_claims(scalars, None, None, CLAIMS_CFG)
    label, verdict = mig_label(t, "dsprites"), c3_verdict(res, "dsprites")
    assert label.startswith("undecided") and "margin ±10%" in label
    assert verdict == "inconclusive"
    # a 6-seed MIG wobble of 7 % std around no change: the 90 % interval (±6 %) lies within ±10 %: both say stable
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, 6)
    scalars = scalars_frame("dsprites", seeds, [0.14] * 6, list(0.14 + noise - noise.mean()))
    t = tables.build_tables(scalars, **TABLE_RULES)
    res = claims.evaluate_claims(scalars, None, None, CLAIMS_CFG)
    assert mig_label(t, "dsprites").startswith("stable") and c3_verdict(res, "dsprites") == "reproduced"


def test_thresholds_come_from_the_config(full_run):
    scalars, histories, sweep, bench = load(full_run)
    # Table 2: the same numbers, labelled by the level they are given (two seeds, relative changes +7 % and -10 %:
    # at p_value 0.45 the 10 % interval is -2.6 % to 0 %, inside ±10 %; at 0.05 the 90 % interval is far wider)
    loose = tables.build_tables(scalars, histories, sweep, bench, **{**TABLE_RULES, "p_value": 0.45})
    strict = tables.build_tables(scalars, histories, sweep, bench, **{**TABLE_RULES, "p_value": 0.05})
    assert mig_label(loose, "dsprites").startswith("stable")
    assert mig_label(strict, "dsprites").startswith("undecided")
    assert "the 10% interval of the mean relative change lies within ±10%" in " ".join(loose["table2"].attrs["notes"])
    # Table 6: the stage-3 MSE falls by 1/1.01 - 1 ≈ -0.99 % per seed
    rel = 1 / 1.01 - 1
    wide = tables.build_tables(scalars, histories, sweep, bench, **{**TABLE_RULES, "mse_relative_tolerance": 0.02})
    tight = tables.build_tables(scalars, histories, sweep, bench, **{**TABLE_RULES, "mse_relative_tolerance": 0.005})
    change = cell(wide["table6"], dataset="dsprites", metric="Relative MSE change (%)")
    assert change["mean"] == pytest.approx(rel * 100) and change["n"] == 2
    assert cell(wide["table6"], dataset="dsprites", metric="Assessment")["text"].startswith("Stable")
    assert cell(tight["table6"], dataset="dsprites", metric="Assessment")["text"].startswith("Improved")
    # one seed, no test: mig_relative_tolerance decides (dsprites seed 42: 0.14 -> 0.15, +7 %)
    one = scalars[scalars.seed == 42]
    labels = {tol: mig_label(tables.build_tables(one, **{**TABLE_RULES, "mig_relative_tolerance": tol}), "dsprites")
              for tol in (0.05, 0.10)}
    assert labels[0.05].startswith("increase, n = 1") and labels[0.10].startswith("stable, n = 1")
    # no defaults: a missing or null threshold is an error naming it
    for key in TABLE_RULES:
        with pytest.raises(TypeError, match=key):
            tables.build_tables(scalars, **{k: v for k, v in TABLE_RULES.items() if k != key})
        with pytest.raises(KeyError, match=rf"claims\.{key}"):
            tables.build_tables(scalars, **{**TABLE_RULES, key: None})
    with pytest.raises(KeyError, match=r"claims\.mig_relative_tolerance"):
        claims.evaluate_claims(scalars, histories, sweep,
                               {k: v for k, v in CLAIMS_CFG.items() if k != "mig_relative_tolerance"})
    assert not any(name.startswith("DEFAULT_") for name in vars(tables))


def slow_t(d: np.ndarray) -> float:
    """t = mean / (sd / sqrt(n)) by the textbook formulas."""
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    return mean / (sd / math.sqrt(n))


def slow_wilcoxon_p(d: np.ndarray) -> float:
    """Exact two-sided Wilcoxon signed-rank p by enumerating every sign pattern (no ties, no zeros)."""
    ranks = stats.rankdata(np.abs(d))
    w_obs = ranks[d > 0].sum()
    null = [sum(r for r, s in zip(ranks, signs) if s) for signs in itertools.product((0, 1), repeat=len(d))]
    lower = np.mean([w <= w_obs for w in null])
    upper = np.mean([w >= w_obs for w in null])
    return min(1.0, 2 * min(lower, upper))


def test_stats_match_slow_implementations(full_run):
    rng = np.random.default_rng(1)
    a = rng.normal(0.2, 0.05, 8)
    b = a + rng.normal(0.01, 0.02, 8)
    pairs = pd.DataFrame({"a": a, "b": b}, index=range(42, 50))
    c = rstats.compare_paired(pairs, "topk - init", "dsprites", "mig")
    d = b - a
    assert c.values == pytest.approx(tuple(d)) and c.seeds == tuple(range(42, 50))
    assert (c.mean, c.std, c.n) == (pytest.approx(d.mean()), pytest.approx(np.std(d, ddof=1)), 8)
    assert c.statistic == pytest.approx(slow_t(a - b))  # sign of a - b, as scipy.stats.ttest_rel(a, b)
    assert c.p == pytest.approx(2 * stats.t.sf(abs(slow_t(d)), 7))
    assert c.effect == pytest.approx(d.mean() / np.std(d, ddof=1))
    assert c.test2 == rstats.WILCOXON and c.p2 == pytest.approx(slow_wilcoxon_p(d))
    assert (c.mean_a, c.mean_b) == (pytest.approx(a.mean()), pytest.approx(b.mean()))
    assert math.isnan(rstats.compare_paired(pairs.iloc[:5], "x", "d").p2)  # Wilcoxon from 6 seeds on
    # degenerate cases of the paired test
    assert rstats.paired_test([1, 2, 3], [1, 2, 3]) == (0.0, 1.0, 0.0)
    assert rstats.paired_test([1, 2, 3], [2, 3, 4]) == (-math.inf, 0.0, math.inf)
    assert all(math.isnan(v) for v in rstats.paired_test([1.0], [2.0]))
    # one-sample t-test and Cohen's d
    x = pd.Series([33.1, 35.0, 34.2, 36.3], index=[42, 43, 44, 45])
    c = rstats.one_sample(x, 34.4, "dsprites")
    assert c.statistic == pytest.approx(slow_t(x.to_numpy() - 34.4))
    assert c.effect == pytest.approx((x.mean() - 34.4) / x.std())
    # ratio of means (delta method) and Welch's t-test
    num, den = np.array([60.0, 62.0, 65.0]), np.array([33.0, 34.0, 36.5, 35.0])
    c = rstats.ratio_comparison(num, den, "shapes3d / dsprites", "shapes3d / dsprites", "topk")
    r = num.mean() / den.mean()
    assert c.mean == pytest.approx(r) and c.n == 3
    v1, v2 = num.var(ddof=1) / 3, den.var(ddof=1) / 4
    assert c.std == pytest.approx(r * math.sqrt(v1 / num.mean() ** 2 * 3 + v2 / den.mean() ** 2 * 4))
    t_w = (num.mean() - den.mean()) / math.sqrt(v1 + v2)
    df_w = (v1 + v2) ** 2 / (v1 ** 2 / 2 + v2 ** 2 / 3)
    assert c.statistic == pytest.approx(t_w) and c.p == pytest.approx(2 * stats.t.sf(abs(t_w), df_w))
    # relative MSE change over stage 3, by a loop over the history rows
    _, histories, _, _ = load(full_run)
    for dataset in ("dsprites", "shapes3d"):
        for method in ("topk", "l1"):
            expected = {}
            for seed in (42, 43):
                epochs = {}
                for row in histories.itertuples():
                    if (row.dataset, row.seed, row.phase, row.stage) == (dataset, seed, method, "sparsify"):
                        epochs[row.epoch] = row.mse
                first, last = epochs[min(epochs)], epochs[max(epochs)]
                expected[seed] = (last - first) / first
            c = rstats.mse_change(histories, dataset, method)
            assert c.contrast == rstats.MSE_STAGE3 and dict(zip(c.seeds, c.values)) == pytest.approx(expected)
            assert c.mean == pytest.approx(np.mean(list(expected.values())))
    # without histories: phase init -> topk of the evaluation files
    scalars = load(full_run)[0]
    c = rstats.mse_change(None, "shapes3d", "topk", scalars)
    expected = [(eval_values("shapes3d", s, "topk")["mse"] - eval_values("shapes3d", s, "init")["mse"])
                / eval_values("shapes3d", s, "init")["mse"] for s in (42, 43)]
    assert c.contrast == "(topk - init) / init" and c.values == pytest.approx(tuple(expected))
    # the decision rules
    stable = rstats.change_is_stable
    rel_c = rstats.relative_change(pairs, "x", "d")
    r = (pairs["b"] - pairs["a"]) / pairs["a"]
    half = stats.t.ppf(0.95, len(r) - 1) * r.std(ddof=1) / math.sqrt(len(r))
    lo, hi = rstats.equivalence_interval(rel_c, 0.05)
    assert (lo, hi) == pytest.approx((r.mean() - half, r.mean() + half))
    assert rstats.detectable_margin(rel_c, 0.05) == pytest.approx(max(abs(lo), abs(hi)))
    wide = max(abs(lo), abs(hi))
    assert stable(rel_c, p_value=0.05, relative_tolerance=wide * 1.01) is True
    assert stable(rel_c, p_value=0.05, relative_tolerance=wide * 0.99) is (False if lo > wide * 0.99 else None)
    if lo > 0:
        assert stable(rel_c, p_value=0.05, relative_tolerance=lo * 0.99) is False
    one = rstats.relative_change(pairs.iloc[:1], "x", "d")
    rel = abs(d[0]) / a[0]
    assert stable(one, p_value=1.0, relative_tolerance=rel * 1.01) is True
    assert stable(one, p_value=0.0, relative_tolerance=rel * 0.99) is False
    assert stable(rstats.relative_change(pairs.iloc[:0], "x", "d"), p_value=0.05, relative_tolerance=0.1) is None
    assert rstats.no_increase_beyond(c, 0.5) is True and rstats.no_increase_beyond(c, c.mean - 1e-6) is False
    with pytest.raises(TypeError):
        stable(one)  # thresholds have no defaults
    with pytest.raises(KeyError, match=r"claims\.p_value"):
        rstats.thresholds({"p_value": None}, {"p_value": float})


# --------------------------------------------------------------------------------------------------- imports
FORBIDDEN = {
    "tables": {"vaesae.report.figures", "vaesae.report.claims"},
    "figures": {"vaesae.report.tables", "vaesae.report.claims", "vaesae.report.stats"},
    "claims": {"vaesae.report.figures", "vaesae.report.tables"},
}


def import_closure(module: str) -> set[str]:
    """Every vaesae module ``module`` imports, transitively, counting imports inside functions (static, by ast)."""
    src = REPO / "src"
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = src / (name.replace(".", "/") + ".py")
        if not path.is_file():
            path = src / name.replace(".", "/") / "__init__.py"
            if not path.is_file():
                continue
        seen.add(name)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                todo.append(node.module)
                todo += [f"{node.module}.{alias.name}" for alias in node.names]  # from pkg import module
    return {m for m in seen if m.startswith("vaesae")}


@pytest.mark.parametrize("entry", sorted(FORBIDDEN))
def test_entry_points_import_only_what_they_render_with(entry, tmp_path):
    closure = import_closure(f"vaesae.cli.{entry}")
    assert f"vaesae.report.{entry}" in closure
    assert not closure & FORBIDDEN[entry], closure & FORBIDDEN[entry]
    assert not import_closure("vaesae.cli.report_inputs") & {f"vaesae.report.{e}" for e in FORBIDDEN}
    # and at run time: main on a tiny run, then the modules Python actually loaded
    run = write_run(tmp_path / "in", datasets=("dsprites",), seeds=(42,), phases=("init", "topk"), benchmarks=False)
    outputs = {"tables": ["--params", json.dumps(TABLE_RULES), "--outdir", str(tmp_path / "out")],
               "figures": ["--params", json.dumps({"dead_threshold": 0.001, "specialization_threshold": 0.5}),
                           "--outdir", str(tmp_path / "out")],
               "claims": ["--params", json.dumps(CLAIMS_CFG), "--out-md", str(tmp_path / "c.md"),
                          "--out-csv", str(tmp_path / "c.csv")]}[entry]
    code = (f"import json, sys\nfrom vaesae.cli.{entry} import main\nmain(json.loads(sys.argv[1]))\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('vaesae'))))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", code, json.dumps([*common_args(run), *outputs])], capture_output=True,
                          text=True, env=env, check=True)
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert f"vaesae.report.{entry}" in loaded
    assert not loaded & FORBIDDEN[entry], loaded & FORBIDDEN[entry]
