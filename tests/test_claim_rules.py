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


def _judge(claim: str, scalars=None, histories=None, sweep=None, cfg=CFG) -> list[dict]:
    """The claim's detail rows as the report decides them: through :func:`vaesae.report.claims.judge`, the one
    function that decides and labels every claim."""
    return claims.judge(claims.CLAIMS[claim], claims.context(scalars, histories, sweep, cfg))


def test_c1_a_noisy_run_no_longer_passes_on_its_own_spread():
    """Paper 34.4 %; seeds 30, 45, 60 (mean 45, std 15): 10.6 points off. The old rule passed it (within 2 std of our
    own seeds); the fixed 5-point margin does not. A consistent run 2 points off still passes."""
    noisy = _verdict(_judge("C1", _scalars("dsprites", topk=[30.0, 45.0, 60.0])))
    assert noisy["verdict"] == "not reproduced" and "not widened" in noisy["tolerance"]
    close = _verdict(_judge("C1", _scalars("dsprites", topk=[36.0, 36.5, 36.7])))
    assert close["verdict"] == "reproduced"


def test_c2_needs_evidence_that_l1_is_not_lower():
    """L1 - Top-k = -4, +6, -12 points (mean -3.3, noisy): the old rule called it reproduced (within 5 points and
    not significantly lower); the lower bound of the difference is -18.5, so the seeds cannot tell. A consistent
    +3 points is shown; a consistent -9 points is shown against."""
    topk = [50.0, 50.0, 50.0]
    noisy = _verdict(_judge("C2", _scalars("dsprites", topk=topk, l1=[46.0, 56.0, 38.0])))
    assert noisy["verdict"] == "inconclusive" and "cannot tell" in noisy["reason"]
    shown = _verdict(_judge("C2", _scalars("dsprites", topk=topk, l1=[53.0, 52.5, 53.6])))
    assert shown["verdict"] == "reproduced"
    against = _verdict(_judge("C2", _scalars("dsprites", topk=topk, l1=[41.0, 40.6, 41.5])))
    assert against["verdict"] == "not reproduced"


def test_c4_an_improvement_is_not_a_degradation():
    """MSE falls by 30 % over stage 3 on every seed: the old two-sided rule said "not reproduced"; the paper's claim
    is "no degradation", so it holds. A 9 % rise still passes and a 15 % rise does not."""
    def c4(factor):
        h = _histories("dsprites", "topk", [0.020, 0.021, 0.019], [0.020 * factor, 0.021 * factor, 0.019 * factor])
        return _verdict(_judge("C4", histories=h), condition="topk")

    assert c4(0.70)["verdict"] == "reproduced" and "one-sided" in c4(0.70)["tolerance"]
    assert c4(1.09)["verdict"] == "reproduced"
    assert c4(1.15)["verdict"] == "not reproduced"


def _mig(dataset: str, init: list[float], topk: list[float]) -> pd.DataFrame:
    rows = [{"dataset": dataset, "phase": phase, "seed": seed, "mig": value}
            for phase, values in (("init", init), ("topk", topk)) for seed, value in zip(SEEDS, values)]  # fmt: skip
    return pd.DataFrame(rows)


def test_c3_a_mig_drop_is_not_stable_for_want_of_a_significant_test():
    """MIG falls by 5 %, 30 % and 10 % (mean 15 %): the old rule (paired t-test, p >= 0.05 at 2 degrees of freedom:
    p = 0.17 here) called it stable. The equivalence rule does not: the 90 % interval of the relative change reaches
    far beyond the 10 % margin. A consistent 15 % drop is shown to be a change; a consistent 1 % wobble is stable."""
    init = [0.20, 0.20, 0.20]
    noisy = _judge("C3", _mig("dsprites", init, [0.19, 0.14, 0.18]))
    row = _verdict(noisy)
    assert row["p_value"] > 0.05  # what the old rule read as "no significant change"
    assert row["verdict"] == "inconclusive" and "straddles" in row["reason"]
    assert "only for a margin of at least" in row["test"]
    drop = _verdict(_judge("C3", _mig("dsprites", init, [0.170, 0.171, 0.169])))
    assert drop["verdict"] == "not reproduced"
    flat = _verdict(_judge("C3", _mig("dsprites", init, [0.198, 0.201, 0.199])))
    assert flat["verdict"] == "reproduced" and "TOST" in flat["tolerance"]


def test_the_equivalence_rule_is_tost_at_the_margin():
    """change_is_stable against a direct TOST: stable iff both one-sided t-tests reject at alpha."""
    import numpy as np
    from scipy import stats as st

    from vaesae.report import stats

    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 7))
        r = rng.normal(rng.uniform(-0.3, 0.3), rng.uniform(0.001, 0.2), n)
        c = stats.Comparison("x", "d", "", tuple(range(n)), tuple(r), r.mean(), r.std(ddof=1), n, 1.0, 1.0, "", 0, 0,
                             0)
        p_low = st.ttest_1samp(r, -0.1, alternative="greater").pvalue
        p_high = st.ttest_1samp(r, 0.1, alternative="less").pvalue
        tost = max(p_low, p_high) < 0.05
        shown_out = (st.ttest_1samp(r, 0.1, alternative="greater").pvalue < 0.05
                     or st.ttest_1samp(r, -0.1, alternative="less").pvalue < 0.05)  # fmt: skip
        got = stats.change_is_stable(c, p_value=0.05, relative_tolerance=0.1)
        assert got is (True if tost else False if shown_out else None)


def test_c9_a_remedy_that_cuts_dead_from_60_to_11_does_not_support_the_collapse():
    """Top-k 60 % dead, the remedy 11 % at the same L0: the old rule ("mean dead % >= 10 %") said the collapse
    persists. The paired reduction (49 points, shown above the 10-point margin) says the remedy prevents it. A remedy
    at 57 % (3 points) supports the collapse; one at twice Top-k's L0 is not comparable."""
    def c9(remedy_dead, remedy_l0=50.0):
        rows = [{"dataset": "dsprites", "phase": phase, "seed": seed, "dead_pct": dead + 0.3 * i, "active_topk": l0}
                for phase, dead, l0 in (("topk", 60.0, 50.0), ("batchtopk", remedy_dead, remedy_l0))
                for i, seed in enumerate(SEEDS)]  # fmt: skip
        return _verdict(_judge("C9", pd.DataFrame(rows)))

    assert c9(11.0)["verdict"] == "contradicted"
    assert c9(57.0)["verdict"] == "supported"
    far = c9(11.0, remedy_l0=100.0)
    assert far["verdict"] == "not comparable" and "+100%" in far["reason"]


def _spec_scalars(dataset: str, init: list[float], topk: list[float]) -> pd.DataFrame:
    rows = [{"dataset": dataset, "phase": phase, "seed": seed, "specialized": value}
            for phase, values in (("init", init), ("topk", topk)) for seed, value in zip(SEEDS, values)]  # fmt: skip
    return pd.DataFrame(rows)


def test_c8_cannot_be_decided_when_nothing_is_specialized_at_k_start():
    """0 -> 0 specialized neurons: a fall was impossible, so "not reproduced" would be forced by the start. 12 -> 3
    is a fall; 5 -> 6 is none."""
    zero = _verdict(_judge("C8", _spec_scalars("dsprites", [0, 0, 0], [0, 0, 0])))
    assert zero["verdict"] == "inconclusive" and "nothing can fall" in zero["reason"]
    assert _verdict(_judge("C8", _spec_scalars("dsprites", [12, 11, 13], [3, 2, 4])))["verdict"] \
        == "reproduced"
    assert _verdict(_judge("C8", _spec_scalars("dsprites", [5, 5, 5], [6, 6, 6])))["verdict"] \
        == "not reproduced"


def _sweep(dead_init, dead_topk, spec_init, spec_topk) -> pd.DataFrame:
    rows = []
    for kind, thresholds, init, topk in (("dead", (0.001, 0.01), dead_init, dead_topk),
                                         ("specialization", (0.3, 0.7), spec_init, spec_topk)):
        for thr, a, b in zip(thresholds, init, topk):
            for seed in SEEDS:
                rows += [{"dataset": "dsprites", "sae": "conv", "kind": kind, "threshold": thr, "seed": seed,
                          "phase": "init", "value": a},
                         {"dataset": "dsprites", "sae": "conv", "kind": kind, "threshold": thr, "seed": seed,
                          "phase": "topk", "value": b}]
    return pd.DataFrame(rows)


def test_c7_a_threshold_where_k_start_is_at_its_limit_is_untestable_not_a_failure():
    """No specialized neuron at k_start at 0.7: the fall cannot show there. With the collapse everywhere else the
    claim is inconclusive (not "not reproduced"); a real failure elsewhere still decides it."""
    limited = _verdict(_judge("C7", sweep=_sweep([40, 60], [80, 90], [20, 0], [5, 0])))
    assert limited["verdict"] == "inconclusive" and "specialization 0.7" in limited["reason"]
    assert "untestable" in limited["measured"]
    failed = _verdict(_judge("C7", sweep=_sweep([40, 60], [30, 90], [20, 0], [5, 0])))
    assert failed["verdict"] == "not reproduced" and "fails at dead 0.001" in failed["measured"]
    full = _verdict(_judge("C7", sweep=_sweep([40, 60], [80, 90], [20, 4], [5, 1])))
    assert full["verdict"] == "reproduced"


def test_c6_a_ratio_the_ceiling_rules_out_is_inconclusive():
    """dSprites Top-k 97 % dead: Shapes3D can give at most 100/97 = 1.03x, far below the paper's 1.8x - 25 %; the
    ratio could not have come out as the paper's. At dSprites 40 % the ratio is open, and 1.0x is a real miss."""
    def c6(ds, s3):
        return pd.concat([_scalars("dsprites", topk=ds), _scalars("shapes3d", topk=s3)])

    capped = _verdict(_judge("C6", c6([97.0, 97.2, 96.8], [98.0, 98.1, 97.9])), "shapes3d / dsprites")
    assert capped["verdict"] == "inconclusive" and "at most 1.03x" in capped["reason"]
    open_ = _verdict(_judge("C6", c6([40.0, 40.2, 39.8], [41.0, 40.9, 41.2])), "shapes3d / dsprites")
    assert open_["verdict"] == "not reproduced"


def test_a_claim_row_over_several_arms_does_not_show_one_arms_bounds():
    rows = [claims._row("C2", d, "l1 - topk", tolerance=f"rule text. Bounds here: {lo} / {hi} points",
                        verdict="inconclusive", reason="r", n=3, paper_value="p", measured="m", measured_mean=0.0,
                        measured_std=0.0, test="t", statistic=0.0, p_value=0.5, effect_size=0.0)
            for d, lo, hi in (("dsprites", -1, 2), ("shapes3d", -3, 4))]
    combined = claims._combine("C2", rows)
    assert combined["tolerance"] == "rule text"
    assert "Bounds here: -1 / 2" in claims._combine("C2", rows[:1])["tolerance"]
