"""Judge the paper's claims C1-C8, and the pipeline's own question C9 where a remedy ran, on the pipeline's result
files (``claims.md`` and ``claims.csv``).

Usage::

    python -m vaesae.cli.claims --evaluations E.csv --globals G.csv... --history H.csv --sweep S.csv \\
        --params '<the config claims: block as JSON>' --out-md claims.md --out-csv claims.csv

Both outputs are written atomically; a rule missing from ``--params`` exits with a message naming its config key.
"""

from __future__ import annotations

import sys

from vaesae.cli.report_inputs import load, parser, print_paths
from vaesae.io import atomic_path, write_text
from vaesae.report.audit import audit_markdown, contradictions, paper_bounds
from vaesae.report.claims import claims_markdown, evaluate_claims
from vaesae.report.style import data_source_note


def main(argv: list[str] | None = None) -> int:
    p = parser("vaesae.cli.claims", __doc__)
    p.add_argument("--out-md", required=True, help="Markdown verdict report")
    p.add_argument("--out-csv", required=True, help="machine-readable verdicts")
    args = p.parse_args(argv)
    scalars, histories, sweep, _ = load(args)
    try:
        df = evaluate_claims(scalars, histories, sweep, args.params)
    except KeyError as err:
        raise SystemExit(f"{args.prog}: --params lacks {err.args[0]}") from err
    with atomic_path(args.out_csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.10g")
    note = data_source_note(scalars)
    audit = audit_markdown(scalars, histories, args.params, note, sweep)
    found = contradictions(paper_bounds(args.params))
    write_text(args.out_md, claims_markdown(df, list(args.params.get("contradictions") or []) + found, audit, note))
    print_paths([args.out_md, args.out_csv])
    return 0


if __name__ == "__main__":
    sys.exit(main())
