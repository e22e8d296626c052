"""Threshold sweep over finished evaluation files -> ``{res}/sweeps/thresholds.csv`` (docs/FORMATS.md).

    python -m vaesae.cli.sweep --evals A.h5 B.h5 ... \\
        --params '{"specialization_thresholds": [0.2, ...], "dead_thresholds": [0.0005, ...]}' \\
        --out results/paper/sweeps/thresholds.csv

Reads the root attributes ``dataset``, ``seed``, ``phase`` and the datasets ``{conv,latent}_sae/mi`` and
``{conv,latent}_sae/activation_rate`` of every evaluation file and writes one long-format row per
(dataset, seed, phase, sae, kind, threshold), in the order the files and thresholds were given.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np
import pandas as pd

from ..io import atomic_path, parse_params
from ..metrics.sweep import threshold_sweep

COLUMNS = ["dataset", "seed", "phase", "sae", "kind", "threshold", "value"]
SAES = (("conv", "conv_sae"), ("latent", "latent_sae"))


def _attr_str(value) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.shape == ():
        return _attr_str(value.item())
    return str(value)


def read_eval(path: str | Path) -> dict:
    """The parts of one evaluation file the sweep needs; ValueError naming the file when something is missing."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: evaluation file not found")
    out: dict = {}
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path}: cannot be read as HDF5 ({err})") from err
    with handle as f:
        for attr in ("dataset", "seed", "phase"):
            if attr not in f.attrs:
                raise ValueError(f"{path}: missing root attribute '{attr}'")
        out["dataset"] = _attr_str(f.attrs["dataset"])
        out["seed"] = int(f.attrs["seed"])
        out["phase"] = _attr_str(f.attrs["phase"])
        for sae, group in SAES:
            for name in ("mi", "activation_rate"):
                key = f"{group}/{name}"
                if key not in f or not isinstance(f[key], h5py.Dataset):
                    raise ValueError(f"{path}: missing dataset '{key}'")
            mi = np.asarray(f[f"{group}/mi"][()], dtype=np.float64)
            rates = np.asarray(f[f"{group}/activation_rate"][()], dtype=np.float64)
            if mi.ndim != 2 or rates.ndim != 1 or mi.shape[0] != rates.shape[0]:
                raise ValueError(
                    f"{path}: '{group}/mi' {mi.shape} and '{group}/activation_rate' {rates.shape} "
                    "do not describe the same neurons"
                )
            out[sae] = (mi, rates)
    return out


def sweep_table(evals: Sequence[str | Path], params: dict) -> pd.DataFrame:
    """Long-format sweep rows (columns ``COLUMNS``) for the evaluation files ``evals``."""
    try:
        spec = [float(t) for t in params["specialization_thresholds"]]
        dead = [float(t) for t in params["dead_thresholds"]]
    except KeyError as err:
        raise ValueError(f"--params lacks {err.args[0]!r}") from err
    except (TypeError, ValueError) as err:
        raise ValueError(f"--params thresholds must be lists of numbers: {err}") from err
    rows = []
    for path in evals:
        ev = read_eval(path)
        for sae, _ in SAES:
            mi, rates = ev[sae]
            for row in threshold_sweep(mi, rates, spec, dead):
                rows.append({"dataset": ev["dataset"], "seed": ev["seed"], "phase": ev["phase"], "sae": sae, **row})
    return pd.DataFrame(rows, columns=COLUMNS)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vaesae.cli.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--evals", nargs="+", required=True, help="evaluation HDF5 files")
    parser.add_argument("--params", required=True, help="JSON with specialization_thresholds and dead_thresholds")
    parser.add_argument("--out", required=True, help="output CSV (written atomically)")
    args = parser.parse_args(argv)
    params = parse_params(args.params)
    try:
        table = sweep_table(args.evals, params)
    except ValueError as err:
        raise SystemExit(f"sweep: {err}") from err
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)


if __name__ == "__main__":
    main()
