"""Convergence gates (vaesae.report.gates) against a slow obvious implementation, and their claims.md section."""

import math

import numpy as np
import pandas as pd
import pytest

from vaesae.report.gates import FAIL, NA, PASS, convergence_gates, gates_markdown, window

RULES = {"window_fraction": 0.2, "vae_mse_min_drop": 0.25, "vae_mse_change": 0.02, "init_dead_points": 2.0}


def _history(phase, column, values, dataset="dsprites", seed=42):
    return pd.DataFrame({"dataset": dataset, "seed": seed, "phase": phase, "epoch": np.arange(len(values)),
                         column: values})


def test_window_is_the_last_fifth_rounded_up():
    assert [window(n, 0.2) for n in (1, 2, 4, 5, 6, 10, 11, 30)] == [1, 1, 1, 1, 2, 2, 3, 6]


def test_vae_gate_is_the_relative_mse_change_over_the_window():
    mse = [0.09, 0.05, 0.03, 0.0200, 0.0199, 0.0198, 0.0197, 0.0196, 0.0195, 0.0194]  # w = 2
    g = convergence_gates(_history("vae", "mse", mse), RULES)
    assert list(g["gate"]) == ["G0", "G1"]
    row = g.iloc[1]
    assert row["window"] == 2 and row["epochs"] == 10
    # a straight line through the window: its trend is the values themselves
    assert row["start"] == pytest.approx(0.0196) and row["end"] == pytest.approx(0.0194)
    assert row["change"] == pytest.approx(abs(0.0194 - 0.0196) / 0.0196)
    assert row["status"] == PASS
    still_falling = [0.09, 0.05, 0.03, 0.025, 0.02]  # w = 1: 20 % drop in the last epoch
    g = convergence_gates(_history("vae", "mse", still_falling), RULES).set_index("gate")
    assert g.loc["G1", "change"] == pytest.approx(0.2) and g.loc["G1", "status"] == FAIL


def test_window_gates_read_the_trend_not_one_epochs_wobble():
    # 50 epochs, window 10 (epochs 39-49): flat at 0.0100 with a 4 % wobble on the last epoch. The window's two end
    # epochs differ by 4 % (> 2 %); the least-squares line through its eleven epochs rises 1.8 %: the wobble alone
    # does not fail G1.
    mse = [0.05] * 38 + [0.0100] * 11 + [0.0104]
    g = convergence_gates(_history("vae", "mse", mse), RULES).set_index("gate")
    assert g.loc["G1", "window"] == 10
    values = mse[-11:]
    m = sum(values) / 11
    slope = sum((e - 5) * (v - m) for e, v in enumerate(values)) / sum((e - 5) ** 2 for e in range(11))
    start, end = m - 5 * slope, m + 5 * slope
    assert g.loc["G1", "start"] == pytest.approx(start) and g.loc["G1", "end"] == pytest.approx(end)
    assert abs(values[-1] - values[0]) / values[0] == pytest.approx(0.04)  # the two end epochs: that would fail
    assert g.loc["G1", "change"] == pytest.approx((end - start) / start)
    assert g.loc["G1", "change"] == pytest.approx(0.0183, abs=1e-4) and g.loc["G1", "status"] == PASS
    # a steady fall of 0.5 % per epoch over the same window is a trend of about 4.9 %: it fails
    falling = [0.05] * 39 + [0.0100 * 0.995 ** i for i in range(11)]
    g = convergence_gates(_history("vae", "mse", falling), RULES).set_index("gate")
    assert g.loc["G1", "change"] == pytest.approx(1 - 0.995 ** 10, abs=0.002) and g.loc["G1", "status"] == FAIL


def test_a_flat_vae_that_never_learned_fails_g0_although_it_passes_g1():
    # The ladder's r0-paper-lr rung: lr 1e-5 for 148 steps, the MSE sits at 0.239 from the first epoch on.
    flat = [0.23927, 0.23877, 0.23826, 0.23774]
    g = convergence_gates(_history("vae", "mse", flat), RULES).set_index("gate")
    assert g.loc["G1", "status"] == PASS  # "levelled off": G1 alone would call this converged
    assert g.loc["G0", "status"] == FAIL and g.loc["G0", "change"] == pytest.approx((0.23927 - 0.23774) / 0.23927)
    learned = [0.0374, 0.0361, 0.0193, 0.0151, 0.0084, 0.0080, 0.0078, 0.0077, 0.0075, 0.0074]
    g = convergence_gates(_history("vae", "mse", learned), RULES).set_index("gate")
    assert g.loc["G0", "status"] == PASS and g.loc["G0", "window"] == 9 and g.loc["G0", "start"] == 0.0374
    rising = [0.02, 0.03, 0.04]  # a VAE that got worse has a negative drop
    g = convergence_gates(_history("vae", "mse", rising), RULES).set_index("gate")
    assert g.loc["G0", "change"] == pytest.approx(-1.0) and g.loc["G0", "status"] == FAIL
    boundary = [0.04, 0.035, 0.03]  # exactly 25 % passes
    assert convergence_gates(_history("vae", "mse", boundary), RULES).set_index("gate").loc["G0", "status"] == PASS


def test_init_gate_is_absolute_points_and_the_boundary_passes():
    dead = [90.0, 60.0, 50.0, 48.0]
    g = convergence_gates(_history("init", "dead_pct", dead), RULES)
    assert g.iloc[0]["change"] == pytest.approx(2.0) and g.iloc[0]["status"] == PASS
    g = convergence_gates(_history("init", "dead_pct", [90.0, 60.0, 50.0, 47.9]), RULES)
    assert g.iloc[0]["status"] == FAIL


def test_a_gate_that_cannot_be_read_is_not_a_pass():
    g = convergence_gates(_history("init", "dead_pct", [50.0]), RULES)  # one epoch: nothing to compare with
    assert g.iloc[0]["status"] == NA and math.isnan(g.iloc[0]["change"])
    g = convergence_gates(_history("vae", "mse", [0.1, float("nan")]), RULES)
    assert set(g["status"]) == {NA}
    g = convergence_gates(_history("vae", "mse", [0.1]), RULES)  # one epoch: G0 has nothing to compare either
    assert set(g["status"]) == {NA}


def _slow_trend(values):
    """The ordinary least-squares line y = a + b x through (0, v0), (1, v1), ... by the normal equations, at both ends."""
    n = len(values)
    sx, sy = sum(range(n)), sum(values)
    sxx, sxy = sum(x * x for x in range(n)), sum(x * v for x, v in enumerate(values))
    b = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    a = (sy - b * sx) / n
    return a, a + b * (n - 1)


def test_gates_match_a_slow_implementation_on_random_histories():
    rng = np.random.default_rng(0)
    frames, expected = [], {}
    for seed in range(20):
        n = int(rng.integers(2, 40))
        mse = rng.uniform(0.01, 0.1, n)
        dead = rng.uniform(0, 100, n)
        frames += [_history("vae", "mse", mse, seed=seed), _history("init", "dead_pct", dead, seed=seed)]
        w = 1
        while w < 0.2 * n - 1e-9:  # the smallest w >= 0.2 n, at least 1
            w += 1
        expected[("G0", seed)] = (mse[0] - mse[-1]) / mse[0] >= 0.25
        mse_start, mse_end = _slow_trend(mse[-1 - w:])
        dead_start, dead_end = _slow_trend(dead[-1 - w:])
        expected[("G1", seed)] = abs(mse_end - mse_start) / mse_start <= 0.02
        expected[("G2", seed)] = abs(dead_end - dead_start) <= 2.0
    g = convergence_gates(pd.concat(frames), RULES)
    assert len(g) == 60
    for r in g.itertuples():
        assert (r.status == PASS) == expected[(r.gate, r.seed)]


def test_missing_rule_names_the_key_and_markdown_flags_failures():
    with pytest.raises(KeyError, match="init_dead_points"):
        convergence_gates(None, {"window_fraction": 0.2, "vae_mse_min_drop": 0.25, "vae_mse_change": 0.02})
    h = pd.concat([_history("vae", "mse", [0.09, 0.05, 0.03, 0.025, 0.02]),
                   _history("init", "dead_pct", [90.0, 89.5])])
    g = convergence_gates(h, RULES)
    text = "\n".join(gates_markdown(g, RULES))
    assert "## Convergence gates" in text and "1 of 3 gates did not pass" in text
    assert "**FAIL**" in text and "**pass**" in text and "20.0 %" in text
    ok = convergence_gates(_history("init", "dead_pct", [90.0, 89.5]), RULES)
    assert "All 1 gates passed." in "\n".join(gates_markdown(ok, RULES))
    assert "not evaluated" in "\n".join(gates_markdown(convergence_gates(None, RULES), RULES))
