"""Threshold sweeps over the raw measurements -> ``sweeps/thresholds.csv`` and ``sweeps/epochs.csv`` (docs/FORMATS.md).

    python -m vaesae.cli.sweep --evals A.h5 B.h5 ... [--raw RUN/history.h5 ...] \\
        --params '{"specialization_thresholds": [0.2, ...], "dead_thresholds": [0.0005, ...],
                   "specialization_activations": "topk", "specialization_mi": "normalized"}' \\
        --out results/paper/sweeps/thresholds.csv [--out-epochs results/paper/sweeps/epochs.csv]

Reads the root attributes ``dataset``, ``seed``, ``phase``, ``n_bins``, the ``factors`` and the datasets
``{conv,latent}_sae/mi[_pre]`` and ``{conv,latent}_sae/activation_rate[_pre]`` of every evaluation file
(``vaesae.evalfile.read_eval``) and writes one long-format row per (dataset, seed, phase, sae, kind, threshold), in
the order the files and thresholds were given.
``kind`` is ``specialization`` (a count, on the configured reading), ``dead`` (a percentage, on ã) or, for the conv
SAE, ``specialization_bound`` (the most neurons the activation budget allows above that threshold,
``vaesae.metrics.bound``) and ``dead_floor`` (the least dead % the budget Σ rate_i(ã) allows at that dead threshold,
``vaesae.metrics.dead_floor``). ``--raw`` adds the same sweep for every epoch of every training run, with an ``epoch``
column (``sweeps/epochs.csv``; no bound rows; stage 2's epoch −1 is its state before the first step).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..evalfile import read_eval
from ..io import atomic_path, parse_params
from ..metrics.bound import specialization_bound
from ..metrics.dead_floor import dead_floor_pct
from ..metrics.mutual_info import factor_entropy
from ..metrics.specialization import MI_UNITS, in_unit
from ..metrics.sweep import threshold_sweep
from ..train.history import READING_SUFFIX, read_history

COLUMNS = ["dataset", "seed", "phase", "sae", "kind", "threshold", "value"]
EPOCH_COLUMNS = ["dataset", "seed", "phase", "epoch", "sae", "kind", "threshold", "value"]
SUFFIX = READING_SUFFIX
SAES = (("conv", "conv_sae"), ("latent", "latent_sae"))


def _thresholds(params: dict) -> tuple[list[float], list[float], str, str]:
    try:
        spec = [float(t) for t in params["specialization_thresholds"]]
        dead = [float(t) for t in params["dead_thresholds"]]
    except KeyError as err:
        raise ValueError(f"--params lacks {err.args[0]!r}") from err
    except (TypeError, ValueError) as err:
        raise ValueError(f"--params thresholds must be lists of numbers: {err}") from err
    reading = params.get("specialization_activations", "topk")
    if reading not in SUFFIX:
        raise ValueError(f"specialization_activations must be one of {list(SUFFIX)}, got {reading!r}")
    unit = params.get("specialization_mi", "normalized")
    if unit not in MI_UNITS:
        raise ValueError(f"specialization_mi must be one of {list(MI_UNITS)}, got {unit!r}")
    return spec, dead, reading, unit


def sweep_table(evals: Sequence[str | Path], params: dict) -> pd.DataFrame:
    """Long-format sweep rows (columns ``COLUMNS``) for the evaluation files ``evals``."""
    spec, dead, reading, unit = _thresholds(params)
    rows = []
    sfx = SUFFIX[reading]
    names = dict.fromkeys((f"mi{sfx}", "activation_rate", f"activation_rate{sfx}"))  # what the sweep reads
    needs = [f"{group}/{name}" for _, group in SAES for name in names]
    for path in evals:
        ev = read_eval(path, datasets=needs)
        attrs, factors = ev["attrs"], ev["factors"]
        keys = {"dataset": str(attrs["dataset"]), "seed": int(attrs["seed"]), "phase": str(attrs["phase"])}
        n_bins = int(attrs["n_bins"]) if "n_bins" in attrs else None
        if unit != "normalized" and factors is None:
            raise ValueError(f"{path}: no 'factors' dataset, needed for raw MI in nats")
        for sae, group in SAES:
            mi = np.asarray(ev[group][f"mi{sfx}"], dtype=np.float64)
            rates = np.asarray(ev[group]["activation_rate"], dtype=np.float64)
            if unit != "normalized":
                mi = in_unit(mi, factor_entropy(factors), unit)
            for row in threshold_sweep(mi, rates, spec, dead):
                rows.append({**keys, "sae": sae, **row})
        conv = ev["conv_sae"]
        n_neurons = conv["activation_rate"].shape[0]
        if factors is not None and n_bins:
            budget = float(np.sum(conv[f"activation_rate{sfx}"]))  # Σ rate_i of the configured reading
            for t in spec:
                b = specialization_bound(budget, t, factors if unit == "normalized" else 1.0, n_bins,
                                         n_neurons)  # in nats: MI > τ needs h(p) + p·ln(n_bins) > τ
                rows.append({**keys, "sae": "conv", "kind": "specialization_bound", "threshold": t, "value": b.bound})
        budget = float(np.sum(np.asarray(conv["activation_rate"], dtype=np.float64)))  # Σ rate_i(ã): what dead sees
        for t in dead:
            rows.append({**keys, "sae": "conv", "kind": "dead_floor", "threshold": t,
                         "value": dead_floor_pct(budget, n_neurons, t)})
    return pd.DataFrame(rows, columns=COLUMNS)


def epoch_sweep_table(raws: Sequence[str | Path], params: dict) -> pd.DataFrame:
    """Per-epoch sweep rows (columns ``EPOCH_COLUMNS``) of the raw histories ``raws`` (runs without SAEs skipped)."""
    spec, dead, reading, unit = _thresholds(params)
    frames = []
    for path in raws:
        raw = read_history(path)
        attrs = raw["attrs"]
        if unit != "normalized" and "factor_entropy" not in attrs:
            raise ValueError(f"{path}: no factor_entropy attribute, needed for raw MI in nats")
        for sae, group in SAES:
            if f"{group}/activation_rate" not in raw:
                continue
            mis, rates = raw[f"{group}/mi{SUFFIX[reading]}"], raw[f"{group}/activation_rate"]
            if unit != "normalized":
                mis = [in_unit(m, attrs["factor_entropy"], unit) for m in mis]
            epochs = raw.get("epoch", np.arange(len(rates)))  # stage 2 starts at -1, before its first step
            for epoch, mi, rate in zip(epochs, mis, rates):
                rows = threshold_sweep(mi, rate, spec, dead)
                frame = pd.DataFrame(rows)
                frame.insert(0, "sae", sae)
                frame.insert(0, "epoch", int(epoch))
                for key in ("phase", "seed", "dataset"):
                    frame.insert(0, key, attrs[key])
                frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=EPOCH_COLUMNS)
    return pd.concat(frames, ignore_index=True)[EPOCH_COLUMNS]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vaesae.cli.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--evals", nargs="+", required=True, help="evaluation HDF5 files")
    parser.add_argument("--params", required=True, help="JSON with specialization_thresholds and dead_thresholds")
    parser.add_argument("--raw", nargs="*", default=[], help="raw training histories (history.h5)")
    parser.add_argument("--out", required=True, help="output CSV (written atomically)")
    parser.add_argument("--out-epochs", default=None, help="per-epoch sweep CSV (needs --raw)")
    args = parser.parse_args(argv)
    params = parse_params(args.params)
    try:
        table = sweep_table(args.evals, params)
        epochs = epoch_sweep_table(args.raw, params) if args.out_epochs else None
    except ValueError as err:
        raise SystemExit(f"sweep: {err}") from err
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    if epochs is not None:
        with atomic_path(args.out_epochs) as tmp:
            epochs.to_csv(tmp, index=False, float_format="%.10g")


if __name__ == "__main__":
    main()
