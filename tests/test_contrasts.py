"""The table of contrasts (vaesae.report.contrasts): each comparison the paper makes is declared once, computed once
per (contrast, dataset, condition), and is the only caller of the comparison functions, so the tables and the claims
that report the same statistic cannot disagree (issue 36)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT

from vaesae.report import claims, contrasts as cx, stats, tables
from vaesae.report.collect import EVAL_COLUMNS

CFG = yaml.safe_load((ROOT / "config.yaml").read_text())["claims"]
TABLE_RULES = {k: CFG[k] for k in ("p_value", "mse_relative_tolerance", "mig_relative_tolerance", "mig_reference")}
SEEDS = (42, 43, 44)
COMPARISONS = {"compare_paired", "compare_phases", "relative_change", "mse_change", "ratio_comparison",
               "one_sample", "stage3_mse"}


def _full(rows: list[dict]) -> pd.DataFrame:
    """Evaluation rows with every column of summary/evaluations.csv (the ones not given empty)."""
    df = pd.DataFrame(rows)
    return df.reindex(columns=list(dict.fromkeys([*EVAL_COLUMNS, *df.columns])))


def _scalars(**per_phase) -> pd.DataFrame:
    """dSprites evaluation rows: ``phase=[(dead %, mse, specialized) per seed]``."""
    return _full([{"dataset": "dsprites", "phase": phase, "seed": seed, "dead_pct": d, "mse": m, "specialized": s,
                   "mig": 0.1, "k": 50} for phase, values in per_phase.items() for seed, (d, m, s) in zip(SEEDS, values)])


def test_nothing_but_the_contrasts_module_calls_a_comparison_function():
    src = ROOT / "src" / "vaesae"
    callers = {}
    for path in src.rglob("*.py"):
        if path.name in ("contrasts.py", "stats.py"):
            continue
        tree = ast.parse(path.read_text())
        names = {n.attr if isinstance(n, ast.Attribute) else n.id
                 for n in ast.walk(tree) if isinstance(n, (ast.Name, ast.Attribute))}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        if names & COMPARISONS:
            callers[str(path.relative_to(src))] = sorted(names & COMPARISONS)
    assert callers == {}


def test_each_contrast_is_computed_once_per_dataset(monkeypatch):
    calls = []
    real = stats.compare_paired
    monkeypatch.setattr(stats, "compare_paired", lambda *a, **k: calls.append(a[1:3]) or real(*a, **k))
    scalars = _scalars(init=[(20, .02, 9)] * 3, topk=[(60, .02, 3), (62, .021, 2), (61, .02, 4)],
                       topk_extended=[(63, .02, 2)] * 3)
    table = cx.Contrasts(scalars)
    first = table.get(cx.DEAD_EXTENDED, "dsprites")
    again = table.get(cx.change("dead_pct", "topk", "topk_extended"), "dsprites")  # the same contrast, built anew
    assert again is first and calls == [("topk_extended - topk", "dsprites")] and len(table) == 1
    assert first.values == pytest.approx((3.0, 1.0, 2.0)) and first.mean == pytest.approx(2.0)


def test_the_mse_fallback_is_one_contrast_shared_by_table6_and_c4():
    """No run has two stage-3 epochs: Table 6 and C4 both fall back to the evaluation files (init -> topk), and say
    the same change; before, C4 had no row (and would have said "inconclusive") while Table 6 assessed it."""
    scalars = _scalars(init=[(20, 0.020, 9), (21, 0.022, 8), (19, 0.018, 9)],
                       topk=[(60, 0.030, 3), (62, 0.033, 2), (61, 0.027, 4)])
    histories = pd.DataFrame([{"dataset": "dsprites", "stage": "sparsify", "phase": "topk", "seed": s, "epoch": 0,
                               "mse": 0.02} for s in SEEDS])  # one epoch each: no stage-3 change
    change = cx.Contrasts(scalars, histories).get(cx.mse_over_stage3("topk"), "dsprites")
    assert change.contrast == "(topk - init) / init" and change.mean == pytest.approx(0.5)
    t6 = tables.build_tables(scalars, histories, **TABLE_RULES)["table6"]
    cell = t6[t6["metric"] == "Relative MSE change (%)"].iloc[0]
    assert cell["mean"] == pytest.approx(50.0)
    assert t6[t6["metric"] == "Assessment"].iloc[0]["text"].startswith("Degraded (+50.0% k_start -> k_end)")
    res = claims.evaluate_claims(scalars, histories, None, CFG)
    c4 = res[(res["claim"] == "C4") & (res["level"] == "detail") & (res["condition"] == "topk")].iloc[0]
    assert c4["measured_mean"] == pytest.approx(0.5) and c4["verdict"] == "not reproduced"
    assert "evaluation files" in c4["test"] and "k_start -> k_end" in c4["measured"]


def test_a_contrast_checks_its_declaration():
    with pytest.raises(ValueError, match="kind must be one of"):
        cx.Contrast("median", "dead_pct", "init", "topk")
    with pytest.raises(ValueError, match="only the MSE"):
        cx.Contrast(cx.PAIRED, "dead_pct", "init", "topk", fallback=True)
    with pytest.raises(ValueError, match="needs a reference"):
        cx.Contrasts(_scalars(topk=[(60, .02, 3)] * 3)).get(cx.DEAD_VS_PAPER, "dsprites")


def test_the_ratio_contrast_is_table2s_factor_and_c6s_ratio():
    rows = [{"dataset": d, "phase": "topk", "seed": s, "dead_pct": v, "mig": 0.1, "specialized": 1, "mse": .02, "k": 50}
            for d, vals in (("dsprites", (30, 32, 31)), ("shapes3d", (60, 66, 63))) for s, v in zip(SEEDS, vals)]
    scalars = _full(rows)
    ratio = cx.Contrasts(scalars).get(cx.complexity_ratio("topk"), "shapes3d")
    assert ratio.mean == pytest.approx(63 / 31)
    t2 = tables.build_tables(scalars, **TABLE_RULES)["table2"]
    factor = t2[t2["metric"].str.startswith("Complexity scaling factor") & (t2["dataset"] == "shapes3d")
                & t2["metric"].str.contains("Top-k")].iloc[0]
    c6 = claims.evaluate_claims(scalars, None, None, CFG)
    c6 = c6[(c6["claim"] == "C6") & (c6["level"] == "detail")].iloc[0]
    assert factor["mean"] == pytest.approx(ratio.mean) == pytest.approx(c6["measured_mean"])
    assert np.isfinite(factor["std"]) and factor["std"] == pytest.approx(c6["measured_std"])


def test_the_claims_and_tables_modules_import_no_comparison():
    for module in (claims, tables):
        text = Path(module.__file__).read_text()
        assert not any(f"{name}(" in text for name in COMPARISONS), module.__name__
