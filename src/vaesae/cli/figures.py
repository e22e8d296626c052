"""Render the paper's Figures 1-11 and Figure 12 (beyond the paper: every stage-3 method) as ``figure01.png`` ...
``figure12.png`` and ``.pdf`` from the result files.

Usage::

    python -m vaesae.cli.figures --evaluations E.csv --globals G.csv... --history H.csv --sweep S.csv \\
        --params '{"datasets": [...], "dead_threshold": 0.001, "specialization_threshold": 0.5}' --outdir DIR \\
        [--threads 2]

Every ``--params`` key is optional (all datasets of the data; the figure module's default thresholds). Every output
is written atomically, and every figure is written even when a dataset, method or phase is absent from the inputs.
"""

from __future__ import annotations

import sys

from vaesae.cli.report_inputs import load, parser, print_paths
from vaesae.report.figures import make_all_figures


def main(argv: list[str] | None = None) -> int:
    p = parser("vaesae.cli.figures", __doc__)
    p.add_argument("--outdir", required=True, help="output directory")
    p.add_argument("--threads", type=int, default=1, help="processes that render figures in parallel")
    args = p.parse_args(argv)
    params = args.params
    scalars, histories, sweep, _ = load(args)
    print_paths(make_all_figures(
        histories, sweep, scalars, args.outdir, datasets=params.get("datasets"),
        dead_threshold=float(params["dead_threshold"]),  # the figures rule passes both (config eval:)
        specialization_threshold=float(params["specialization_threshold"]),
        workers=args.threads,
    ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
