"""Judge the paper's claims C1-C8, and the pipeline's own question C9 where a remedy ran, on the pipeline's result
files (``claims.md`` and ``claims.csv``).

Usage::

    python -m vaesae.cli.claims --evaluations E.csv --globals G.csv... --history H.csv --sweep S.csv \\
        --params '<the config claims: block as JSON>' --out-md claims.md --out-csv claims.csv [--out-gates gates.csv]

With ``--out-gates``, the convergence gates (``vaesae.report.gates``, rules ``claims.gates``) are written there and
shown in claims.md before the details. Every output is written atomically; a rule missing from ``--params`` exits with a message naming its config key.
"""

from __future__ import annotations

import sys

from vaesae.cli.report_inputs import load, parser, print_paths
from vaesae.io import atomic_path, write_text
from vaesae.report.audit import audit_markdown, contradictions, paper_bounds
from vaesae.report.claims import claims_markdown, evaluate_claims
from vaesae.report.gates import convergence_gates, gates_markdown
from vaesae.report.style import data_source_note


def _with_pretraining(histories, paths: list[str], prog: str):
    """The report's histories plus the pretraining histories (phase ``vae``), for the gates."""
    import pandas as pd

    frames = [] if histories is None else [histories]
    for path in paths:
        try:
            h = pd.read_csv(path)
        except (OSError, ValueError) as err:
            raise SystemExit(f"{prog}: cannot read pretraining history {path}: {err}") from err
        missing = {"dataset", "seed", "phase", "epoch", "mse"} - set(h.columns)
        if missing:
            raise SystemExit(f"{prog}: pretraining history {path} lacks column(s) {', '.join(sorted(missing))}")
        frames.append(h[["dataset", "seed", "phase", "epoch", "mse"]])
    return pd.concat(frames, ignore_index=True) if frames else None


def main(argv: list[str] | None = None) -> int:
    p = parser("vaesae.cli.claims", __doc__)
    p.add_argument("--out-md", required=True, help="Markdown verdict report")
    p.add_argument("--out-csv", required=True, help="machine-readable verdicts")
    p.add_argument("--out-gates", default=None, help="the convergence gates (CSV)")
    p.add_argument("--pretrain-history", nargs="*", default=[],
                   help="the VAE pretraining's history.csv files (gate G1 reads their MSE)")
    args = p.parse_args(argv)
    scalars, histories, sweep, _ = load(args)
    try:
        df = evaluate_claims(scalars, histories, sweep, args.params)
    except KeyError as err:
        raise SystemExit(f"{args.prog}: --params lacks {err.args[0]}") from err
    gate_lines = None
    if args.out_gates:
        try:
            gates = convergence_gates(_with_pretraining(histories, args.pretrain_history, args.prog),
                                      args.params["gates"])
        except KeyError as err:
            raise SystemExit(f"{args.prog}: --params lacks gates ({err.args[0]})") from err
        with atomic_path(args.out_gates) as tmp:
            gates.to_csv(tmp, index=False, float_format="%.10g")
        gate_lines = gates_markdown(gates, args.params["gates"])
    with atomic_path(args.out_csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.10g")
    note = data_source_note(scalars)
    audit = audit_markdown(scalars, histories, args.params, note, sweep)
    found = contradictions(paper_bounds(args.params))
    write_text(args.out_md, claims_markdown(df, list(args.params.get("contradictions") or []) + found, audit, note,
                                                gate_lines))
    print_paths([args.out_md, args.out_csv] + ([args.out_gates] if args.out_gates else []))
    return 0


if __name__ == "__main__":
    sys.exit(main())
