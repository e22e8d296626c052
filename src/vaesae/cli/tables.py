"""Render the paper's Tables 1-7 and Table 8 (beyond the paper: every stage-3 method) as ``table1.csv`` ...
``table8.csv`` and ``.md`` from the pipeline's result files.

Usage::

    python -m vaesae.cli.tables --evaluations E.csv --globals G.csv... --history H.csv --sweep S.csv \\
        --benchmarks B.tsv... --params JSON --outdir DIR

``JSON`` is an object with exactly the keys ``p_value``, ``mse_relative_tolerance`` and ``mig_relative_tolerance``
(the config's ``claims:`` values of the same names; all required). Every output is written atomically, and every
table is written even when a dataset, method or phase is absent from the inputs.
"""

from __future__ import annotations

import sys

from vaesae.cli.report_inputs import load, parser, print_paths
from vaesae.report.stats import thresholds
from vaesae.report.tables import RULE_TYPES, build_tables, write_tables


def main(argv: list[str] | None = None) -> int:
    p = parser("vaesae.cli.tables", __doc__, benchmarks=True)
    p.add_argument("--outdir", required=True, help="output directory")
    args = p.parse_args(argv)
    unknown = sorted(set(args.params) - set(RULE_TYPES))
    if unknown:
        raise SystemExit(f"{args.prog}: unknown --params key(s) {', '.join(unknown)} "
                         f"(expected {', '.join(RULE_TYPES)})")
    try:
        rules = thresholds(args.params, RULE_TYPES)
    except KeyError as err:
        raise SystemExit(f"{args.prog}: --params lacks {err.args[0]}") from err
    scalars, histories, sweep, benchmarks = load(args)
    print_paths(write_tables(build_tables(scalars, histories, sweep, benchmarks, **rules), args.outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
