"""Convergence gates: has a run trained long enough that its stage-3 numbers say something about sparsification?

Two gates per (dataset, seed), read from the per-epoch history (summary/history.csv) before any stage-3 number:

    G1  VAE converged      |MSE_E - MSE_(E-w)| / MSE_(E-w) <= claims.gates.vae_mse_change      (end of stage 1)
    G2  dead % settled     |dead_E - dead_(E-w)|            <= claims.gates.init_dead_points    (end of stage 2, k_start)

where E is the stage's last epoch and w = ceil(claims.gates.window_fraction * epochs) its last fraction of epochs
("levelled off over the last fifth"). The MSE is the monitor's validation MSE of the VAE, the dead % the conv SAE's
at the config's dead threshold. A gate that cannot be evaluated (a stage of one epoch, a missing column) is "n/a",
never a pass. A run that fails a gate is reported as such at the top of claims.md; its verdicts are still computed,
but they describe an under-trained model, not the paper's question.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

PASS, FAIL, NA = "pass", "FAIL", "n/a"
#: gate id -> (title, stage phase in the history, history column, rule key, relative change?)
GATES = {
    "G1": ("VAE MSE levelled off (end of stage 1)", "vae", "mse", "vae_mse_change", True),
    "G2": ("dead % at k_start settled (end of stage 2)", "init", "dead_pct", "init_dead_points", False),
}
COLUMNS = ("gate", "title", "dataset", "seed", "epochs", "window", "start", "end", "change", "threshold", "status")
RULE_KEYS = ("window_fraction", "vae_mse_change", "init_dead_points")


def window(epochs: int, fraction: float) -> int:
    """The number of final epochs a gate looks back over: ceil(fraction x epochs), at least 1."""
    return max(1, math.ceil(fraction * epochs - 1e-9))


def _gate(values: np.ndarray, fraction: float, threshold: float, relative: bool) -> dict:
    n = len(values)
    w = window(n, fraction)
    if n < w + 1 or not np.all(np.isfinite(values[-(w + 1):])):
        return {"epochs": n, "window": w, "start": math.nan, "end": math.nan, "change": math.nan, "status": NA}
    start, end = float(values[-(w + 1)]), float(values[-1])
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
    for gate, (title, phase, column, key, relative) in GATES.items():
        part = histories[histories["phase"] == phase]
        for (dataset, seed), g in part.groupby(["dataset", "seed"], sort=True):
            values = g.sort_values("epoch")[column].to_numpy(dtype=float) if column in g else np.array([])
            rows.append({"gate": gate, "title": title, "dataset": dataset, "seed": int(seed),
                         **_gate(values, float(rules["window_fraction"]), float(rules[key]), relative),
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
           f"Read before any stage-3 number. G1: the VAE's validation MSE changed by at most "
           f"{100 * float(rules['vae_mse_change']):g} % over the last {pct} % of the pretraining epochs. G2: the conv "
           f"SAE's dead % at k_start changed by at most {float(rules['init_dead_points']):g} points over the last "
           f"{pct} % of the initialisation epochs (`claims.gates`).", ""]
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
        rows.append([r.gate, r.title, dataset_label(r.dataset), r.seed, f"{r.window} of {r.epochs}",
                     "n/a" if not np.isfinite(r.start) else f"{scale(r.start)} → {scale(r.end)}",
                     num(r.change, relative), num(r.threshold, relative), f"**{r.status}**"])
    out.append(md_table(["Gate", "What", "Dataset", "Seed", "Epochs read", "Value", "Change", "Allowed", "Status"],
                        rows))
    return out
