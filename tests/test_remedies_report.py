"""Beyond the paper: Table 8, Figure 12 and claim C9 on synthetic results with the remedy methods of the methods
table (``vaesae.methods.remedies``) next to the paper's Top-k and L1, written as docs/FORMATS.md describes them and
read back through the report's loaders (the same helpers as tests/test_report.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from test_report import (CLAIMS_CFG, STAGE3_EPOCHS, TABLE_RULES, bench_seconds, cell, common_args, eval_row,
                         eval_values, history_rows, load, write_run)
from vaesae import methods
from vaesae.cli import claims as cli_claims
from vaesae.report import catalog, claims, collect, figures, style, tables
from vaesae.report.catalog import FIGURES
from vaesae.report import stats as rstats
from vaesae.workflow import ConfigError, load_config

SEEDS = (42, 43, 44)
DATASETS = ("dsprites", "shapes3d")
#: Dead % at k_end of each remedy: base + dataset offset + 0.5 per seed step. Top-k + AuxK revives (below the
#: collapse threshold of 10 %), BatchTopK keeps the collapse, JumpReLU ran on one seed only, the centred Top-k not at all.
REMEDY_DEAD = {"topk_auxk": 2.0, "batchtopk": 30.0, "jumprelu": 40.0}
DATASET_OFFSET = {"dsprites": 0.0, "shapes3d": 20.0}
REMEDY_SEEDS = {"topk_auxk": SEEDS, "batchtopk": SEEDS, "jumprelu": (42,)}
RAN = ("topk", "l1", "topk_auxk", "batchtopk", "jumprelu")  # table order: the paper's, then the remedies


def remedy_dead(method: str, dataset: str, seed: int) -> float:
    return REMEDY_DEAD[method] + DATASET_OFFSET[dataset] + 0.5 * (seed - 42)


def active(method: str, seed: int) -> float:
    """L0 (active_topk) of a run: Top-k is at k_end = 50 exactly, the others near it, L1 far above."""
    return {"topk": 50.0, "l1": 400.0 + seed - 42}.get(method, 45.0 + len(method) + 0.25 * (seed - 42))


def remedy_eval_row(method: str, dataset: str, seed: int) -> dict:
    row = eval_row(dataset, seed, "topk")
    i = seed - 42
    row.update(phase=method, method=method, dead_pct=remedy_dead(method, dataset, seed),
               specialized=300.0 + 10 * len(method) + 4 * i, specialized_bound=500.0 + 3 * i,
               mig=0.1 + 0.01 * len(method) + 0.002 * i, mse=0.02 + 0.001 * i)
    return row


def remedy_history(method: str, dataset: str, seed: int) -> pd.DataFrame:
    """The Top-k stage-3 history of the same seed with the dead % moved to the remedy's end point."""
    h = history_rows(dataset, seed, "topk")
    shift = remedy_dead(method, dataset, seed) - eval_values(dataset, seed, "topk")["dead_pct"]
    prog = np.linspace(0.0, 1.0, len(h))
    h["dead_pct"] = (h["dead_pct"] + shift * prog).clip(lower=0.0)
    h["specialized"] = h["specialized"] * (1 + 0.1 * len(method) / 10)
    h["phase"], h["method"] = method, method
    return h


def add_remedies(run: dict, remedies=REMEDY_SEEDS) -> dict:
    """Append remedy evaluations, histories and benchmark files to a synthetic run written by ``write_run``."""
    ev = pd.read_csv(run["evaluations"])
    ev["active_topk"] = [active(m if p == m else "topk", s) for m, p, s in zip(ev["method"], ev["phase"], ev["seed"])]
    hist = pd.read_csv(run["history"])
    new_ev, new_h = [], []
    for method, seeds in remedies.items():
        for d in DATASETS:
            for s in seeds:
                new_ev.append({**remedy_eval_row(method, d, s), "active_topk": active(method, s)})
                new_h.append(remedy_history(method, d, s))
                b = run["evaluations"].parent.parent / "benchmarks" / f"sparsify_{d}_seed{s}_{method}.tsv"
                b.parent.mkdir(parents=True, exist_ok=True)
                b.write_text(f"s\th:m:s\n{bench_seconds(d, s, 22.0):.4f}\t0:00:00\n")
                run["benchmarks"] = [*run["benchmarks"], b]
    pd.concat([ev, pd.DataFrame(new_ev)], ignore_index=True).to_csv(run["evaluations"], index=False)
    pd.concat([hist, *new_h], ignore_index=True).to_csv(run["history"], index=False)
    return run


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("paper"), seeds=SEEDS)


@pytest.fixture(scope="module")
def remedy_run(tmp_path_factory):
    return add_remedies(write_run(tmp_path_factory.mktemp("remedies"), seeds=SEEDS))


# --------------------------------------------------------------------------------------------------- style
def test_remedies_have_labels_and_distinct_fixed_colours():
    assert methods.remedies() == ["topk_auxk", "batchtopk", "jumprelu", "topk_centred"]
    for m in methods.remedies():
        assert style.method_label(m) == methods.METHODS[m].label
        assert m in style.METHOD_COLORS
    assert style.method_label("topk_auxk") == "Top-k + AuxK"
    assert style.method_label("batchtopk_extended") == "BatchTopK extended"
    assert style.phase_label("jumprelu_extended") == "JumpReLU extended"
    assert style.phase_label("topk") == "Top-k (k_end)" and style.method_label("unknown") == "unknown"
    colours = [tuple(style.method_color(m)) for m in methods.METHODS]
    assert len(set(colours)) == len(colours)
    assert style.method_order(["jumprelu", "l1", "unknown", "topk_auxk", "topk"]) == [
        "topk", "l1", "topk_auxk", "jumprelu", "unknown"]


# --------------------------------------------------------------------------------------------------- Table 8
def test_table8_values_order_and_bound(remedy_run, tmp_path):
    scalars, histories, sweep, bench = load(remedy_run)
    shuffled = scalars.sample(frac=1.0, random_state=0).reset_index(drop=True)  # row order must not matter
    t = tables.build_tables(shuffled, histories, sweep, bench, **TABLE_RULES)
    assert list(t) == [f"table{i}" for i in range(1, 9)]
    t8 = t["table8"]
    assert t8.attrs["rows"] == ["dataset", "origin", "method"] and t8.attrs["column"] == "metric"
    assert t8.attrs["title"].startswith("Table 8 (beyond the paper)")
    assert t8.attrs["notes"][0].startswith("Data: dSprites: procedural")
    # every method present, the paper's first, then the remedies in table order; per dataset
    for d in DATASETS:
        order = list(dict.fromkeys(t8.loc[t8.dataset == d, "method"]))
        assert order == list(RAN)
    assert list(dict.fromkeys(t8["dataset"])) == list(DATASETS)
    origin = t8.drop_duplicates("method").set_index("method")["origin"]
    assert origin["topk"] == origin["l1"] == tables.PAPER_ORIGIN
    assert {origin[m] for m in REMEDY_SEEDS} == {tables.REMEDY_ORIGIN}
    # mean, std and n over seeds
    dead = [remedy_dead("batchtopk", "shapes3d", s) for s in SEEDS]
    c = cell(t8, dataset="shapes3d", method="batchtopk", metric="Dead (%)")
    assert c["mean"] == pytest.approx(np.mean(dead)) and c["std"] == pytest.approx(np.std(dead, ddof=1))
    assert c["n"] == 3 and c["fmt"] == ".1f"
    c = cell(t8, dataset="dsprites", method="topk", metric="Dead (%)")
    assert c["mean"] == pytest.approx(np.mean([eval_values("dsprites", s, "topk")["dead_pct"] for s in SEEDS]))
    rows = [remedy_eval_row("topk_auxk", "dsprites", s) for s in SEEDS]
    for metric, col in (("Specialized", "specialized"), ("Specialized, bound", "specialized_bound"), ("MIG", "mig"),
                        ("MSE", "mse")):
        c = cell(t8, dataset="dsprites", method="topk_auxk", metric=metric)
        values = [r[col] for r in rows]
        assert c["mean"] == pytest.approx(np.mean(values)) and c["std"] == pytest.approx(np.std(values, ddof=1))
    c = cell(t8, dataset="dsprites", method="l1", metric="L0 (active neurons / sample)")
    assert c["mean"] == pytest.approx(np.mean([active("l1", s) for s in SEEDS])) and c["n"] == 3
    one = cell(t8, dataset="shapes3d", method="jumprelu", metric="Dead (%)")
    assert one["n"] == 1 and math.isnan(one["std"]) and one["mean"] == remedy_dead("jumprelu", "shapes3d", 42)
    assert cell(t8, dataset="dsprites", method="l1", metric="k (conv SAE)")["text"] == "no Top-k"
    assert cell(t8, dataset="dsprites", method="batchtopk", metric="k (conv SAE)")["text"] == "50"
    assert "topk_centred" not in set(t8["method"])  # not run: no row
    # the Markdown: origin column, the bound next to the count, n marked for the one-seed run
    tables.write_tables(t, tmp_path)
    md = (tmp_path / "table8.md").read_text()
    assert md.startswith("## Table 8 (beyond the paper).")
    header = next(line for line in md.splitlines() if line.startswith("| Dataset"))
    assert header.startswith("| Dataset | Origin | Method | k (conv SAE) | Dead (%) | Specialized | Specialized, bound |")
    assert "| dSprites | paper | Top-k |" in md and "| Shapes3D | remedy (beyond the paper) | BatchTopK |" in md
    jump = next(line for line in md.splitlines() if "| Shapes3D |" in line and "JumpReLU" in line)
    assert f"{remedy_dead('jumprelu', 'shapes3d', 42):.1f} (n=1)" in jump
    bound = np.mean([r["specialized_bound"] for r in rows])
    aux = next(line for line in md.splitlines() if "| dSprites |" in line and "Top-k + AuxK" in line)
    assert f"{bound:,.0f} ± " in aux
    csv = pd.read_csv(tmp_path / "table8.csv")
    assert {"dataset", "origin", "method", "metric", "mean", "std", "n"} <= set(csv.columns)
    # Table 7 reads the remedies' benchmark files (method names with underscores) and labels them
    t7 = t["table7"]
    c = cell(t7, dataset="dsprites", stage="sparsify", variant="topk_auxk")
    assert c["label"] == "Stage 3: joint training, Top-k + AuxK"
    assert c["mean"] == pytest.approx(np.mean([bench_seconds("dsprites", s, 22.0) / 60 for s in SEEDS]))


def test_table8_of_a_paper_run_has_the_paper_methods_only(base_run):
    t8 = tables.build_tables(*load(base_run), **TABLE_RULES)["table8"]
    assert list(dict.fromkeys(t8["method"])) == ["topk", "l1"]
    assert set(t8["origin"]) == {tables.PAPER_ORIGIN}
    assert "none in this run" in t8.attrs["notes"][1]
    empty = tables.build_tables(collect.load_evaluations(None), **TABLE_RULES)["table8"]
    assert empty.empty and "No data" in tables.table_markdown("table8", empty)


# --------------------------------------------------------------------------------------------------- Figure 12
def test_figure12_has_one_line_per_method_per_panel(remedy_run, tmp_path):
    scalars, histories, sweep, _ = load(remedy_run)
    fig = FIGURES["figure12"].build({"histories": histories}, {"datasets": list(DATASETS)})
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["dSprites: dead neurons", "dSprites: specialized neurons",
                                                 "Shapes3D: dead neurons", "Shapes3D: specialized neurons"]
    for ax in panels:
        drawn = [ln.get_gid() for ln in ax.lines]
        assert drawn == list(RAN), drawn  # one line per method, in table order
        assert ax.get_xlabel() == "stage-3 epoch"
    # a line is the mean over seeds per epoch, its band the std
    ax = panels[2]  # Shapes3D dead %
    line = next(ln for ln in ax.lines if ln.get_gid() == "batchtopk")
    h = histories[(histories.dataset == "shapes3d") & (histories.phase == "batchtopk")]
    expected = h.groupby("epoch")["dead_pct"].mean()
    assert list(line.get_xdata()) == list(range(STAGE3_EPOCHS))
    assert np.asarray(line.get_ydata()) == pytest.approx(expected.to_numpy())
    assert tuple(line.get_color()) == tuple(style.method_color("batchtopk"))
    styles = {ln.get_gid(): ln.get_linestyle() for ln in ax.lines}
    assert styles == {"topk": "-", "l1": "-", "topk_auxk": "--", "batchtopk": "--", "jumprelu": "--"}
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert labels == ["Top-k", "L1", "Top-k + AuxK (remedy)", "BatchTopK (remedy)", "JumpReLU (remedy)"]
    assert "Figure 12" in fig._suptitle.get_text()
    # written by make_all_figures, with the data line under the title
    pngs = figures.make_all_figures(histories, sweep, scalars, tmp_path, datasets=list(DATASETS), dead_threshold=0.001,
                                    specialization_threshold=0.5)
    assert [p.name for p in pngs] == [f"figure{i:02d}.png" for i in range(1, 13)]
    assert (tmp_path / "figure12.pdf").read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "figure12.png").stat().st_size > 30_000
    # no stage-3 history: a "no data" figure, still written
    empty = FIGURES["figure12"].build({"histories": collect.load_histories([])}, {"datasets": None})
    assert any("no data for dSprites, Shapes3D" in t.get_text() for ax in empty.axes for t in ax.texts)


# --------------------------------------------------------------------------------------------------- C9
def c9_rows(res: pd.DataFrame) -> pd.DataFrame:
    return res[(res.claim == "C9") & (res.level == "detail")].set_index(["condition", "dataset"])


def test_c9_verdicts_supported_contradicted_inconclusive(remedy_run):
    scalars, histories, sweep, _ = load(remedy_run)
    assert CLAIMS_CFG["remedies"] == {"baseline": "topk", "reduction_points": 10.0, "l0_match_tolerance": 0.1,
                                      "collapse_dead_pct": 10.0}
    res = claims.evaluate_claims(scalars, histories, sweep, CLAIMS_CFG)
    det = c9_rows(res)
    # one row per (remedy, dataset) present, in table order; the centred Top-k did not run: no row
    assert list(det.index) == [(m, d) for m in REMEDY_SEEDS for d in DATASETS]
    # the paired reduction of dead % against Top-k (34-36 % on dSprites, 62-64 % on Shapes3D) decides
    assert det.loc[("batchtopk", "dsprites"), "verdict"] == claims.SUPPORTED  # 4-5 points: below the 10-point margin
    assert det.loc[("batchtopk", "shapes3d"), "verdict"] == claims.CONTRADICTED  # 12-13 points, shown above it
    assert (det["verdict"].loc["topk_auxk"] == claims.CONTRADICTED).all()  # 32-40 points
    jump = det.loc[("jumprelu", "dsprites")]
    assert jump["verdict"] == claims.INCONCLUSIVE and jump["n"] == 1 and "too few seeds" in jump["reason"]
    # the remedy's dead % and its paired reduction against Top-k, with the L0s that were matched
    row = det.loc[("batchtopk", "shapes3d")]
    dead = np.array([remedy_dead("batchtopk", "shapes3d", s) for s in SEEDS])
    topk = np.array([eval_values("shapes3d", s, "topk")["dead_pct"] for s in SEEDS])
    assert row["measured_mean"] == pytest.approx(dead.mean()) and row["measured_std"] == pytest.approx(dead.std(ddof=1))
    red = topk - dead
    assert f"reduction vs Top-k: {red.mean():+.1f} ± {red.std(ddof=1):.1f} points (n=3)" in row["measured"]
    assert "evaluation L0 54.2 vs 50.0 (+8%)" in row["measured"]
    assert row["effect_size"] == pytest.approx(red.mean() / red.std(ddof=1))
    assert "10 points" in row["tolerance"] and "±10%" in row["tolerance"]
    assert "unit-norm decoder" in det.loc[("topk_auxk", "dsprites"), "measured"]
    # the claim-level verdict: any contradicted -> contradicted; marked as the pipeline's own question
    top = res[(res.claim == "C9") & (res.level == "claim")].iloc[0]
    assert top["verdict"] == claims.CONTRADICTED and top["dataset"] == "all"
    assert top["measured"] == ("collapse persists in 1 of 6 remedy runs (remedy × dataset); contradicted: Top-k + "
                               "AuxK on dSprites, Top-k + AuxK on Shapes3D, BatchTopK on Shapes3D; inconclusive: "
                               "JumpReLU on dSprites, JumpReLU on Shapes3D")
    assert top["paper_value"].startswith("not in the paper")
    assert set(res.loc[res.claim == "C9", "origin"]) == {claims.ORIGIN_TEXT[catalog.PIPELINE]}
    assert set(res.loc[res.claim != "C9", "origin"]) == {claims.ORIGIN_TEXT[catalog.PAPER]}
    assert set(res.loc[res.claim != "C9", "verdict"]) <= set(claims.PAPER_VERDICTS)
    assert set(res.loc[res.claim == "C9", "verdict"]) <= set(claims.QUESTION_VERDICTS)
    # the margin comes from the config: at 50 points every reduction shown is below it
    wide = {**CLAIMS_CFG["remedies"], "reduction_points": 50.0}
    res = claims.evaluate_claims(scalars, histories, sweep, {**CLAIMS_CFG, "remedies": wide})
    assert (c9_rows(res).drop("jumprelu", level="condition")["verdict"] == claims.SUPPORTED).all()
    # an L0 match tolerance of 5 %: every remedy keeps 6-9 % more neurons active than Top-k: none is comparable
    tight = {**CLAIMS_CFG["remedies"], "l0_match_tolerance": 0.05}
    res = claims.evaluate_claims(scalars, histories, sweep, {**CLAIMS_CFG, "remedies": tight})
    rows = c9_rows(res).drop("jumprelu", level="condition")
    assert (rows["verdict"] == claims.NOT_COMPARABLE).all() and rows["reason"].str.contains("not comparable").all()
    top = res[(res.claim == "C9") & (res.level == "claim")].iloc[0]
    assert top["verdict"] == claims.INCONCLUSIVE
    # a baseline with no run: nothing to compare with, inconclusive with the reason
    other = {**CLAIMS_CFG["remedies"], "baseline": "topk_centred"}
    res = claims.evaluate_claims(scalars, histories, sweep, {**CLAIMS_CFG, "remedies": other})
    row = c9_rows(res).loc[("batchtopk", "dsprites")]
    assert row["verdict"] == claims.INCONCLUSIVE and "no seed with a Top-k, centred input run" in row["reason"]
    with pytest.raises(KeyError, match=r"claims\.remedies\.reduction_points"):
        claims.evaluate_claims(scalars, histories, sweep, {k: v for k, v in CLAIMS_CFG.items() if k != "remedies"})


def test_c9_is_the_pipelines_question_in_claims_md(remedy_run, base_run, tmp_path):
    res = claims.evaluate_claims(*load(remedy_run)[:3], CLAIMS_CFG)
    md = claims.claims_markdown(res, CLAIMS_CFG["contradictions"])
    head, beyond = md.split("## Beyond the paper: the pipeline's own question (C9)")
    verdict_table = head.split("## Details per dataset")[0]
    assert "| C9 |" not in head and "(of 8 claims)" in verdict_table  # not counted with the paper's claims
    assert "**Not a claim of the paper**" in beyond
    assert "| C9 |" in beyond and "**contradicted**" in beyond
    assert "| BatchTopK | Shapes3D |" in beyond and "inconclusive (too few seeds)" in beyond
    assert "Not run in this run: Top-k, centred input (`topk_centred`)." in beyond
    # the paper config (methods [topk, l1]): no C9 row, a "not run" line
    res = claims.evaluate_claims(*load(base_run)[:3], CLAIMS_CFG)
    assert "C9" not in set(res["claim"])
    md = claims.claims_markdown(res, CLAIMS_CFG["contradictions"])
    assert "C9: **not run**" in md and "`topk_auxk`" in md
    # the CLI writes the same rows
    out = tmp_path / "claims.csv"
    assert cli_claims.main([*common_args(remedy_run), "--params", json.dumps(CLAIMS_CFG), "--out-md",
                            str(tmp_path / "claims.md"), "--out-csv", str(out)]) == 0
    df = pd.read_csv(out)
    assert set(df.loc[df.claim == "C9", "origin"]) == {claims.ORIGIN_TEXT[catalog.PIPELINE]}
    assert "## Beyond the paper" in (tmp_path / "claims.md").read_text()
    cfg = {k: v for k, v in CLAIMS_CFG.items() if k != "remedies"}
    with pytest.raises(SystemExit, match=r"claims\.remedies\."):
        cli_claims.main([*common_args(remedy_run), "--params", json.dumps(cfg), "--out-md", str(tmp_path / "c.md"),
                         "--out-csv", str(tmp_path / "c.csv")])


def test_a_zero_spread_t_test_reads_n_a_in_claims_md_and_keeps_its_numbers_in_the_csv(remedy_run):
    """Equal non-zero paired differences (every seed moved by the same amount) give t = -inf, p = 0, d_z = inf by
    the convention of report/stats.py; claims.md says "n/a (zero spread)" for them, and claims.csv keeps them."""
    res = claims.evaluate_claims(*load(remedy_run)[:3], CLAIMS_CFG)
    det = res[res.level == "detail"]
    c9, c1 = det[det.claim == "C9"].index[0], det[det.claim == "C1"].index[0]
    res.loc[[c9, c1], ["statistic", "p_value", "effect_size"]] = [-math.inf, 0.0, math.inf]
    md = claims.claims_markdown(res, CLAIMS_CFG["contradictions"])
    rows = [line for line in md.splitlines() if claims.ZERO_SPREAD in line]
    # one line per such row (C9's in its own section); the fixture's C4 L1 rows are zero-spread cases of their own
    assert len(rows) == int(np.isinf(res.loc[res.level == "detail", "statistic"]).sum()) >= 3
    for start in ("| dSprites | topk |", "| Top-k + AuxK | dSprites |"):  # C1 in its section; C9
        assert any(line.startswith(start) and f"| {claims.ZERO_SPREAD} | n/a | n/a |" in line for line in rows)
    assert "-inf" not in md and "| inf |" not in md
    assert (res.loc[[c9, c1], "p_value"] == 0.0).all()  # the numbers themselves are unchanged
    # a finite effect beside an infinite statistic (C6: the deviation from the paper's ratio) is still printed
    res.loc[c1, "effect_size"] = 0.25
    md = claims.claims_markdown(res, CLAIMS_CFG["contradictions"])
    assert f"| {claims.ZERO_SPREAD} | n/a | 0.25 |" in md


def test_table2_names_a_zero_spread_change_instead_of_printing_p_0():
    """Every seed's MIG rose by 20 %: the paired t-test is degenerate (p = 0 by convention); the label gives the
    equivalence interval (a point) and no p."""
    pairs = pd.DataFrame({"a": [0.20, 0.30, 0.25], "b": [0.24, 0.36, 0.30]}, index=[42, 43, 44])
    c = rstats.compare_paired(pairs, "topk - init", "dsprites", "mig")
    rel = rstats.relative_change(pairs, "(topk - init) / init", "dsprites", "mig")
    label = tables._change_label(c, rel, p_value=0.05, relative_tolerance=0.1)
    assert label == "increase, 90% interval of the relative change +20% to +20% (margin ±10%)" and "p =" not in label
    wobble = pairs.assign(b=[0.201, 0.299, 0.2505])
    label = tables._change_label(rstats.compare_paired(wobble, "x", "d", "mig"),
                                 rstats.relative_change(wobble, "x", "d", "mig"), p_value=0.05, relative_tolerance=0.1)
    assert label.startswith("stable, 90% interval")


def test_c1_to_c8_do_not_change_with_remedy_rows(remedy_run, base_run):
    """The same seeds with and without the remedies: every C1-C8 row (verdict, numbers, text) is identical, and so
    is the verdict table of claims.md."""
    base = claims.evaluate_claims(*load(base_run)[:3], CLAIMS_CFG)
    more = claims.evaluate_claims(*load(remedy_run)[:3], CLAIMS_CFG)
    paper = more[more.claim != "C9"].reset_index(drop=True)
    pd.testing.assert_frame_equal(paper, base.reset_index(drop=True))
    assert list(base.loc[base.level == "claim", "claim"]) == [f"C{i}" for i in range(1, 9)]

    def verdict_table(res):
        return claims.claims_markdown(res).split("## Details per dataset")[0]

    assert verdict_table(more) == verdict_table(base)
    # and Tables 1-7 are those of the paper run
    t_base = tables.build_tables(*load(base_run), **TABLE_RULES)
    t_more = tables.build_tables(*load(remedy_run), **TABLE_RULES)
    for name in ("table1", "table2", "table3", "table4", "table5", "table6"):
        pd.testing.assert_frame_equal(t_more[name], t_base[name])


# --------------------------------------------------------------------------------------------------- config
def test_c9_rule_lives_in_the_config_claims_block():
    cfg = load_config()
    assert cfg["claims"]["remedies"] == {"collapse_dead_pct": 10.0, "baseline": "topk", "reduction_points": 10.0,
                                         "l0_match_tolerance": 0.1}
    for bad, key in (({"collapse_dead_pct": 150}, "claims.remedies.collapse_dead_pct"),
                     ({"reduction_points": 0}, "claims.remedies.reduction_points"),
                     ({"l0_match_tolerance": -1}, "claims.remedies.l0_match_tolerance"),
                     ({"threshold": 5}, "claims.remedies.threshold")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_config(overrides={"claims": {"remedies": bad}})
