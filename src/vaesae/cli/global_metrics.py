"""Entry point of the ``global_metrics`` rule: SAP and DCI of the VAE means of one evaluation file.

    python -m vaesae.cli.global_metrics --eval E.h5 --params '{"dci_model": "gbt", "train_fraction": 0.8}' \
        --out E.global.csv [--threads N]

Extras beyond the paper (disentanglement_lib's definitions): do the other global disentanglement metrics agree with
MIG that nothing changes while neurons die? One CSV row: dataset, seed, phase, sap, dci_disentanglement,
dci_completeness, dci_informativeness.
"""

from __future__ import annotations

import argparse
import sys

import h5py
import pandas as pd

from vaesae.device import job_environment
from vaesae.io import atomic_path, parse_params
from vaesae.metrics.extra import sap_dci


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vaesae.cli.global_metrics", description=__doc__.split("\n\n")[0])
    ap.add_argument("--eval", required=True, help="evaluation HDF5 (docs/FORMATS.md)")
    ap.add_argument("--params", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    params = parse_params(args.params)
    print(f"job environment: {job_environment()}", file=sys.stderr)
    with h5py.File(args.eval, "r") as f:
        for key in ("vae_means", "factors"):
            if key not in f:
                raise SystemExit(f"global_metrics: {args.eval} has no '{key}' array")
        means, factors = f["vae_means"][:], f["factors"][:]
        row = {key: f.attrs[key] for key in ("dataset", "seed", "phase")}
    row.update(
        sap_dci(
            means,
            factors,
            train_fraction=params.get("train_fraction", 0.8),
            dci_model=params.get("dci_model", "gbt"),
            n_jobs=args.threads,
        )
    )
    with atomic_path(args.out) as tmp:
        pd.DataFrame([row]).to_csv(tmp, index=False, float_format="%.10g")
    print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
