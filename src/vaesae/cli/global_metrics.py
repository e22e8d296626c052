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

import pandas as pd

from vaesae.device import job_environment
from vaesae.evalfile import IDENTITY, EvalFileError, read_eval
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
    try:
        ev = read_eval(args.eval, attrs=IDENTITY, datasets=("vae_means", "factors"))
    except EvalFileError as err:
        raise SystemExit(f"global_metrics: {err}") from err
    means, factors = ev["vae_means"], ev["factors"]
    row = {key: ev["attrs"][key] for key in IDENTITY}
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
