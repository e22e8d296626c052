"""Entry point of the ``summarize`` rule: the reporting thresholds applied to the raw measurements.

    python -m vaesae.cli.summarize --evals E.h5... --histories RUN/history.csv... \\
        --params '{"dead_threshold": 0.001, "specialization_threshold": 0.5, "specialization_activations": "topk",
                   "specialization_mi": "normalized"}' \\
        --out-evaluations summary/evaluations.csv --out-history summary/history.csv

Each ``history.csv`` is read with the ``history.h5`` next to it. See ``vaesae.summary`` and docs/FORMATS.md.
"""

from __future__ import annotations

import argparse
import sys

from vaesae.io import atomic_path, parse_params
from vaesae.summary import SummaryInputError, summarize_evaluations, summarize_histories

KEYS = ("dead_threshold", "specialization_threshold", "specialization_activations", "specialization_mi")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vaesae.cli.summarize", description=__doc__.split("\n\n")[0])
    ap.add_argument("--evals", nargs="*", default=[], metavar="E.h5")
    ap.add_argument("--histories", nargs="*", default=[], metavar="H.csv")
    ap.add_argument("--params", required=True, type=parse_params)
    ap.add_argument("--out-evaluations", required=True)
    ap.add_argument("--out-history", required=True)
    args = ap.parse_args(argv)
    missing = [k for k in KEYS if k not in args.params]
    if missing:
        ap.error(f"--params lacks {', '.join(missing)}")
    opts = {"dead_threshold": float(args.params["dead_threshold"]),
            "specialization_threshold": float(args.params["specialization_threshold"]),
            "activations": args.params["specialization_activations"],
            "mi_unit": args.params["specialization_mi"]}  # fmt: skip
    try:
        evaluations = summarize_evaluations(args.evals, **opts)
        history = summarize_histories(args.histories, **opts)
    except (SummaryInputError, ValueError) as err:
        raise SystemExit(f"summarize: {err}") from err
    with atomic_path(args.out_evaluations) as tmp:
        evaluations.to_csv(tmp, index=False, float_format="%.10g")
    with atomic_path(args.out_history) as tmp:
        history.to_csv(tmp, index=False, float_format="%.10g")
    print(f"{len(evaluations)} evaluations, {len(history)} epochs at dead < {opts['dead_threshold']}, "
          f"specialized > {opts['specialization_threshold']} ({opts['activations']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
