"""The command-line arguments and result files shared by the three render entry points.

:mod:`vaesae.cli.tables`, :mod:`vaesae.cli.figures` and :mod:`vaesae.cli.claims` each read the same inputs::

    --evaluations summary/evaluations.csv  --globals G.csv...  --history summary/history.csv  --sweep S.csv
    --params JSON

(the summarize rule's two tables -- the evaluation files and the training epochs with the reporting thresholds
applied --, the SAP/DCI rows of the global_metrics rule, sweeps/thresholds.csv, and a JSON object of options) and add their own outputs. This module imports none of the report modules that render (tables,
figures, claims), so each entry point depends only on what it renders with.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from vaesae.io import parse_params


class ReportInputs(NamedTuple):
    scalars: pd.DataFrame  # one row per evaluation file (summary/evaluations.csv), SAP/DCI merged in
    histories: pd.DataFrame
    sweep: pd.DataFrame
    benchmarks: pd.DataFrame  # empty unless the entry point reads --benchmarks


def parser(module: str, doc: str, *, benchmarks: bool = False) -> argparse.ArgumentParser:
    """The shared arguments (plus ``--benchmarks`` when asked); the entry point adds its outputs."""
    p = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n\n")[0])
    p.add_argument("--evaluations", default=None, metavar="E.csv", help="summary/evaluations.csv")
    p.add_argument("--globals", nargs="*", default=[], metavar="G.csv",
                   help="SAP/DCI rows of the global_metrics rule (merged into the evaluation scalars)")
    p.add_argument("--history", default=None, metavar="H.csv", help="summary/history.csv")
    p.add_argument("--sweep", default=None, metavar="S.csv", help="sweeps/thresholds.csv")
    if benchmarks:
        p.add_argument("--benchmarks", nargs="*", default=[], metavar="B.tsv", help="Snakemake benchmark files")
    p.add_argument("--params", default="{}", type=parse_params, metavar="JSON",
                   help="JSON object of options (see the module doc)")
    p.set_defaults(prog=p.prog)
    return p


def load(args: argparse.Namespace) -> ReportInputs:
    """Read every input file; a missing or malformed one exits with a message naming it."""
    from vaesae.report import collect

    try:
        scalars = collect.merge_global_metrics(collect.load_evaluations(args.evaluations), args.globals)
        histories, at_init = collect.split_at_init(collect.load_histories([args.history] if args.history else []))
        scalars = collect.add_warmup(scalars, histories)  # the end of the stage-3 warm-up, phase {method}_warmup
        scalars = collect.add_at_init(scalars, at_init)  # before any SAE step (stage 2's epoch -1), phase init_start
        return ReportInputs(scalars, histories, collect.load_sweep(args.sweep),
                            collect.load_benchmarks(getattr(args, "benchmarks", [])))
    except collect.ReportInputError as err:
        raise SystemExit(f"{args.prog}: {err}") from err


def print_paths(paths) -> None:
    """One written path per line (the Snakemake log lists what was written)."""
    for path in paths:
        print(Path(path))
