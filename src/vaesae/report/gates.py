"""Convergence gates: has a run trained long enough that its stage-3 numbers say something about sparsification?

Three gates per (dataset, seed), read from the per-epoch history (summary/history.csv) before any stage-3 number:

    G0  VAE learned        (MSE_1 - MSE_E) / MSE_1          >= claims.gates.vae_mse_min_drop    (over stage 1)
    G1  VAE converged      |T_E - T_(E-w)| / T_(E-w)        <= claims.gates.vae_mse_change      (end of stage 1)
    G2  dead % settled     |T_E - T_(E-w)|                  <= claims.gates.init_dead_points    (end of stage 2, k_start)

where E is the stage's last epoch, 1 its first, and w = ceil(claims.gates.window_fraction * epochs) its last
fraction of epochs ("levelled off over the last fifth"). T is the window's trend: the least-squares line through the
w + 1 values of epochs E-w .. E, read at the window's two ends,

    T_e = m + s (e - mean(e)),   s = sum((e - mean(e)) (v_e - m)) / sum((e - mean(e))^2),   m = mean(v_e),

so that an epoch-to-epoch wobble larger than the threshold (the validation MSE of a VAE at lr 1e-3 moves 3-5 % from
one epoch to the next) does not decide the gate by which two epochs happen to be compared; with w = 1 the line goes
through both values and T is the values themselves. G1 alone passes a VAE that never learned (at a learning rate
far too small for its steps the MSE is flat from the first epoch, and flat reads as "levelled off"); G0 is there so
that G1 can fail for that reason: the MSE must also have fallen by the stated fraction since the first epoch (G0 reads
the first and last epochs themselves: its drop is tens of per cent, far above the wobble). The MSE is the monitor's
validation MSE of the VAE, the dead % the conv SAE's at the config's dead threshold. A gate that cannot be evaluated
(a stage of one epoch, a missing column) is "n/a", never a pass. A run that fails a gate is reported as such at the
top of claims.md; its verdicts are still computed, but they describe an under-trained model, not the paper's question.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

PASS, FAIL, NA = "pass", "FAIL", "n/a"
#: gate id -> (title, stage phase in the history, history column, rule key, relative change?, whole stage?)
#: A window gate passes when its change is at most the threshold; a whole-stage gate (G0) when its relative drop from
#: the first epoch is at least the threshold.
GATES = {
    "G0": ("VAE MSE fell over stage 1 (learned)", "vae", "mse", "vae_mse_min_drop", True, True),
    "G1": ("VAE MSE levelled off (end of stage 1)", "vae", "mse", "vae_mse_change", True, False),
    "G2": ("dead % at k_start settled (end of stage 2)", "init", "dead_pct", "init_dead_points", False, False),
}
COLUMNS = ("gate", "title", "dataset", "seed", "epochs", "window", "start", "end", "change", "threshold", "status")
RULE_KEYS = ("window_fraction", "vae_mse_min_drop", "vae_mse_change", "init_dead_points")


def window(epochs: int, fraction: float) -> int:
    """The number of final epochs a gate looks back over: ceil(fraction x epochs), at least 1."""
    return max(1, math.ceil(fraction * epochs - 1e-9))


def trend_ends(values: np.ndarray) -> tuple[float, float]:
    """The least-squares line through ``values`` (one per epoch, equally spaced), read at the first and last epoch."""
    v = np.asarray(values, dtype=float)
    e = np.arange(len(v), dtype=float) - (len(v) - 1) / 2
    slope = float(np.dot(e, v - v.mean()) / np.dot(e, e))
    return float(v.mean() + slope * e[0]), float(v.mean() + slope * e[-1])


def _gate(values: np.ndarray, fraction: float, threshold: float, relative: bool, whole: bool = False) -> dict:
    n = len(values)
    w = n - 1 if whole else window(n, fraction)
    if n < 2 or n < w + 1 or not np.all(np.isfinite(values[-(w + 1):])):
        return {"epochs": n, "window": w, "start": math.nan, "end": math.nan, "change": math.nan, "status": NA}
    if whole:
        start, end = float(values[0]), float(values[-1])  # the relative drop since the first epoch (a rise: negative)
        drop = (start - end) / abs(start) if start != 0 else -math.inf
        return {"epochs": n, "window": w, "start": start, "end": end, "change": drop,
                "status": PASS if drop >= threshold else FAIL}
    start, end = trend_ends(values[-(w + 1):])
    if relative:
        change = abs(end - start) / abs(start) if start != 0 else math.inf
    else:
        change = abs(end - start)
    return {"epochs": n, "window": w, "start": start, "end": end, "change": change,
            "status": PASS if change <= threshold else FAIL}


def convergence_gates(histories: pd.DataFrame | None, rules: dict) -> pd.DataFrame:
    """One row per (gate, dataset, seed) in COLUMNS order; ``rules`` is the config's ``claims.gates`` block."""
    missing = [k for k in RULE_KEYS if k not in rules]
    if missing:
        raise KeyError(f"gates.{missing[0]}")
    rows = []
    if histories is None or not len(histories):
        return pd.DataFrame(rows, columns=list(COLUMNS))
    for gate, (title, phase, column, key, relative, whole) in GATES.items():
        part = histories[histories["phase"] == phase]
        for (dataset, seed), g in part.groupby(["dataset", "seed"], sort=True):
            values = g.sort_values("epoch")[column].to_numpy(dtype=float) if column in g else np.array([])
            rows.append({"gate": gate, "title": title, "dataset": dataset, "seed": int(seed),
                         **_gate(values, float(rules["window_fraction"]), float(rules[key]), relative, whole),
                         "threshold": float(rules[key])})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def failed(gates: pd.DataFrame) -> pd.DataFrame:
    """The rows that did not pass (FAIL or n/a)."""
    return gates[gates["status"] != PASS]


def gates_markdown(gates: pd.DataFrame, rules: dict) -> list[str]:
    """The claims.md section: a one-line verdict and the table of every gate."""
    from vaesae.report.markdown import md_table
    from vaesae.report.style import dataset_label

    pct = round(100 * float(rules["window_fraction"]))
    out = ["## Convergence gates", "",
           f"Read before any stage-3 number. G0: the VAE's validation MSE fell by at least "
           f"{100 * float(rules['vae_mse_min_drop']):g} % from the first to the last pretraining epoch (it learned; "
           "without G0 a VAE that never moved would pass G1). G1: the VAE's validation MSE changed by at most "
           f"{100 * float(rules['vae_mse_change']):g} % over the last {pct} % of the pretraining epochs. G2: the conv "
           f"SAE's dead % at k_start changed by at most {float(rules['init_dead_points']):g} points over the last "
           f"{pct} % of the initialisation epochs (`claims.gates`). G1 and G2 read the window's trend, the "
           "least-squares line through its epochs at the window's first and last epoch (the Value column), so that "
           "one epoch's wobble does not decide them; over a window of one epoch that is the two epochs' values.", ""]
    if not len(gates):
        return out + ["_No pretraining or initialisation history in this run: the gates were not evaluated._"]
    bad = failed(gates)
    if len(bad):
        out += [f"**{len(bad)} of {len(gates)} gates did not pass: the stage-3 numbers below describe a model that had "
                "not converged before sparsification, not the paper's question.**", ""]
    else:
        out += [f"All {len(gates)} gates passed.", ""]

    def num(x, relative):
        if not np.isfinite(x):
            return "n/a"
        return f"{100 * x:.1f} %" if relative else f"{x:.1f} pts"

    rows = []
    for r in gates.itertuples():
        relative = GATES[r.gate][4]
        scale = (lambda v: f"{v:.4g}") if relative else (lambda v: f"{v:.1f}")
        read = f"all {r.epochs}" if GATES[r.gate][5] else f"{r.window} of {r.epochs}"
        allowed = ("≥ " if GATES[r.gate][5] else "≤ ") + num(r.threshold, relative)
        rows.append([r.gate, r.title, dataset_label(r.dataset), r.seed, read,
                     "n/a" if not np.isfinite(r.start) else f"{scale(r.start)} → {scale(r.end)}",
                     num(r.change, relative), allowed, f"**{r.status}**"])
    out.append(md_table(["Gate", "What", "Dataset", "Seed", "Epochs read", "Value", "Change (G0: drop)", "Allowed", "Status"],
                        rows))
    return out
