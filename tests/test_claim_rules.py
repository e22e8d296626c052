"""Issue 23 §1, C1, C2 and C4: crafted cases that the old rules decided wrongly and the rules now decide rightly.

Each case is built from per-seed numbers only (three seeds, the config's ``claims:`` block), so the verdict follows
from the rule and nothing else.
"""

from __future__ import annotations

import pandas as pd
import yaml

from vaesae.report import claims

from conftest import ROOT

CFG = yaml.safe_load((ROOT / "config.yaml").read_text())["claims"]
SEEDS = (42, 43, 44)


def _scalars(dataset: str, **per_phase) -> pd.DataFrame:
    """Evaluation rows: ``phase=[dead % per seed]``."""
    rows = [{"dataset": dataset, "phase": phase, "seed": seed, "dead_pct": value}
            for phase, values in per_phase.items() for seed, value in zip(SEEDS, values)]  # fmt: skip
    return pd.DataFrame(rows)


def _histories(dataset: str, method: str, first: list[float], last: list[float]) -> pd.DataFrame:
    rows = [{"dataset": dataset, "stage": "sparsify", "phase": method, "seed": seed, "epoch": epoch, "mse": mse}
            for seed, a, b in zip(SEEDS, first, last) for epoch, mse in ((0, a), (1, b))]  # fmt: skip
    return pd.DataFrame(rows)


def _verdict(rows: list[dict], dataset: str = "dsprites", condition: str | None = None) -> dict:
    return next(r for r in rows if r["dataset"] == dataset and (condition is None or r["condition"] == condition))


def _rules():
    return claims.thresholds(CFG, claims.RULE_TYPES)


def test_c1_a_noisy_run_no_longer_passes_on_its_own_spread():
    """Paper 34.4 %; seeds 30, 45, 60 (mean 45, std 15): 10.6 points off. The old rule passed it (within 2 std of our
    own seeds); the fixed 5-point margin does not. A consistent run 2 points off still passes."""
    noisy = _verdict(claims._c1(_scalars("dsprites", topk=[30.0, 45.0, 60.0]), CFG, _rules()))
    assert noisy["verdict"] == "not reproduced" and "not widened" in noisy["tolerance"]
    close = _verdict(claims._c1(_scalars("dsprites", topk=[36.0, 36.5, 36.7]), CFG, _rules()))
    assert close["verdict"] == "reproduced"


def test_c2_needs_evidence_that_l1_is_not_lower():
    """L1 - Top-k = -4, +6, -12 points (mean -3.3, noisy): the old rule called it reproduced (within 5 points and
    not significantly lower); the lower bound of the difference is -18.5, so the seeds cannot tell. A consistent
    +3 points is shown; a consistent -9 points is shown against."""
    topk = [50.0, 50.0, 50.0]
    noisy = _verdict(claims._c2(_scalars("dsprites", topk=topk, l1=[46.0, 56.0, 38.0]), CFG, _rules()))
    assert noisy["verdict"] == "inconclusive" and "cannot tell" in noisy["reason"]
    shown = _verdict(claims._c2(_scalars("dsprites", topk=topk, l1=[53.0, 52.5, 53.6]), CFG, _rules()))
    assert shown["verdict"] == "reproduced"
    against = _verdict(claims._c2(_scalars("dsprites", topk=topk, l1=[41.0, 40.6, 41.5]), CFG, _rules()))
    assert against["verdict"] == "not reproduced"


def test_c4_an_improvement_is_not_a_degradation():
    """MSE falls by 30 % over stage 3 on every seed: the old two-sided rule said "not reproduced"; the paper's claim
    is "no degradation", so it holds. A 9 % rise still passes and a 15 % rise does not."""
    def c4(factor):
        h = _histories("dsprites", "topk", [0.020, 0.021, 0.019], [0.020 * factor, 0.021 * factor, 0.019 * factor])
        return _verdict(claims._c4(h, CFG, _rules()), condition="topk")

    assert c4(0.70)["verdict"] == "reproduced" and "one-sided" in c4(0.70)["tolerance"]
    assert c4(1.09)["verdict"] == "reproduced"
    assert c4(1.15)["verdict"] == "not reproduced"
