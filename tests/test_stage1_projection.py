"""benchmarks/ladder/stage1_projection.py: G1's reach projected from a stage-1 history (issue 35)."""

import importlib.util

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location("stage1_projection", ROOT / "benchmarks/ladder/stage1_projection.py")
projection = importlib.util.module_from_spec(spec)
spec.loader.exec_module(projection)


def _history(tmp_path, mse):
    path = tmp_path / "history.csv"
    pd.DataFrame({"dataset": "dsprites", "seed": 42, "phase": "vae", "epoch": np.arange(len(mse)),
                  "mse": mse}).to_csv(path, index=False)
    return path


def test_a_pure_power_law_changes_by_the_same_share_over_the_last_fifth_at_any_length():
    law = lambda t: 0.02 * t ** -0.4  # noqa: E731
    for epochs in (80, 800, 8000):
        assert projection.last_fifth_change(law, epochs) == pytest.approx(1 - 0.8 ** 0.4)


def test_a_power_law_history_has_no_floor_and_g1_out_of_reach(tmp_path):
    t = np.arange(1, 81, dtype=float)
    out = "\n".join(projection.project(_history(tmp_path, 0.02 * t ** -0.4), 10, [160]))
    assert "80 epochs" in out and "FAIL" in out
    assert "c = 0.400" in out and f"{100 * (1 - 0.8 ** 0.4):.1f} %" in out
    assert "no floor" in out or "first T with G1 <= 2 %: inf" in out


def test_a_history_with_a_floor_projects_the_length_where_g1_passes(tmp_path):
    a, b, c = 0.002, 0.05, 0.8
    t = np.arange(1, 81, dtype=float)
    out = "\n".join(projection.project(_history(tmp_path, a + b * t ** -c), 10, [160, 320]))
    assert "floor fit: a = 0.002 " in out
    law = lambda x: a + b * x ** -c  # noqa: E731
    first = next(n for n in range(80, 100_000) if projection.last_fifth_change(law, n) <= 0.02)
    assert f"first T with G1 <= 2 %: {first}" in out
