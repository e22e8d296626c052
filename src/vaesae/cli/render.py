"""Render the paper's tables, figures and claim verdicts from the pipeline's result files.

Usage::

    python -m vaesae.cli.render tables  --evals E.h5... --histories H.csv... --sweep S.csv \\
        [--benchmarks B.tsv...] [--params JSON] --outdir DIR          # table1..7 .csv + .md
    python -m vaesae.cli.render figures --evals E.h5... --histories H.csv... --sweep S.csv \\
        [--params '{"datasets": [...], "dead_threshold": 0.001, "specialization_threshold": 0.5}'] --outdir DIR
                                                                       # figure01..11 .png + .pdf
    python -m vaesae.cli.render claims  --evals E.h5... --histories H.csv... --sweep S.csv \\
        --params '<the config claims: block as JSON>' --out-md claims.md --out-csv claims.csv

Every output is written atomically, and every expected output is written even when a dataset, method or phase is
absent from the inputs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vaesae.io import atomic_path, parse_params, write_text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vaesae.cli.render", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    for name, help_text in (("tables", "table1..table7 (.csv + .md)"),
                            ("figures", "figure01..figure11 (.png + .pdf)"),
                            ("claims", "claim verdicts (claims.md + claims.csv)")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--evals", nargs="*", default=[], metavar="E.h5", help="evaluation files")
        p.add_argument("--globals", nargs="*", default=[], metavar="G.csv",
                       help="SAP/DCI rows of the global_metrics rule (merged into the evaluation scalars)")  # fmt: skip
        p.add_argument("--histories", nargs="*", default=[], metavar="H.csv", help="history.csv files")
        p.add_argument("--sweep", default=None, metavar="S.csv", help="sweeps/thresholds.csv")
        p.add_argument("--benchmarks", nargs="*", default=[], metavar="B.tsv", help="Snakemake benchmark files")
        p.add_argument("--params", default="{}", metavar="JSON", help="JSON object of options (see module doc)")
        if name == "claims":
            p.add_argument("--out-md", required=True, help="Markdown verdict report")
            p.add_argument("--out-csv", required=True, help="machine-readable verdicts")
        else:
            p.add_argument("--outdir", required=True, help="output directory")
    return parser


def _load(args):
    from vaesae.report import collect

    scalars = collect.merge_global_metrics(collect.load_eval_scalars(args.evals), args.globals)
    return (scalars, collect.load_histories(args.histories),
            collect.load_sweep(args.sweep), collect.load_benchmarks(args.benchmarks))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    params = parse_params(args.params)
    from vaesae.report.collect import ReportInputError

    try:
        scalars, histories, sweep, benchmarks = _load(args)
    except ReportInputError as err:
        raise SystemExit(f"render {args.what}: {err}") from err

    if args.what == "tables":
        from vaesae.report.tables import build_tables, write_tables

        options = {k: params[k] for k in ("p_value", "mse_relative_tolerance", "dead_threshold",
                                          "specialization_threshold") if params.get(k) is not None}
        tables = build_tables(scalars, histories, sweep, benchmarks, **options)
        for path in write_tables(tables, args.outdir):
            print(path)
    elif args.what == "figures":
        from vaesae.report.figures import (DEFAULT_DEAD_THRESHOLD, DEFAULT_SPECIALIZATION_THRESHOLD,
                                           make_all_figures)

        written = make_all_figures(
            histories, sweep, scalars, args.outdir, datasets=params.get("datasets"),
            dead_threshold=float(params.get("dead_threshold", DEFAULT_DEAD_THRESHOLD)),
            specialization_threshold=float(params.get("specialization_threshold",
                                                      DEFAULT_SPECIALIZATION_THRESHOLD)),
        )
        for path in written:
            print(path)
    else:
        from vaesae.report.claims import claims_markdown, evaluate_claims

        df = evaluate_claims(scalars, histories, sweep, params)
        with atomic_path(args.out_csv) as tmp:
            df.to_csv(tmp, index=False, float_format="%.10g")
        write_text(args.out_md, claims_markdown(df, params.get("contradictions") or []))
        print(Path(args.out_md))
        print(Path(args.out_csv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
