"""The scale ladder (README "What the evidence says so far"): commit one rung's results, render the ladder.

Usage::

    python -m vaesae.cli.ladder collect --rung r2-width --presets workflow/presets/quick.yaml \\
        workflow/presets/ladder/r2-width.yaml --command "snakemake ..." --wall-s 2900 --out evidence/ladder/r2-width
    python -m vaesae.cli.ladder reclaim evidence/ladder/r1-steps [evidence/ladder/r2-width ...]
    python -m vaesae.cli.ladder render --root evidence/ladder --out evidence/ladder
    python -m vaesae.cli.ladder readings --root evidence/readings/r3-converged --out evidence/readings/r3-converged
    python -m vaesae.cli.ladder compare --folder "40 epochs=evidence/ladder/r4-paper-width/reading-literal" \\
        "80 epochs=evidence/ladder/r4-paper-width/stage1-probe-80ep/reading-literal" --title "..." --out compare.md

``collect`` copies claims, gates, tables, figures, summaries, histories and benchmarks (no checkpoint, no dataset)
and writes rung.yaml; ``reclaim`` re-judges committed rungs (claims.md, claims.csv, gates.csv, rung.yaml's gate
counts) with the current claim and gate rules from their own evidence files; ``render`` writes ladder.md,
ladder.csv and ladder.png/.pdf across every rung under --root; ``readings`` writes readings.md, readings.csv and
readings.png/.pdf across the readings of one rung (``vaesae.studies.readings``); ``compare`` writes the readings
table over any named committed folders. ``benchmarks/ladder/run_rung.sh RUNG`` runs a rung, times it and calls
``collect``; ``benchmarks/readings/run_reading.sh RUNG READING...`` does the same for a reading of the paper's text
on a rung.
"""

from __future__ import annotations

import argparse
import sys

from vaesae.studies.ladder import LadderError, collect_rung, reclaim_rung, render_ladder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vaesae.cli.ladder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="copy one rung's results into the evidence folder")
    c.add_argument("--rung", required=True)
    c.add_argument("--presets", nargs="+", required=True, help="the config files stacked on config.yaml")
    c.add_argument("--command", required=True, help="the command that produced the results")
    c.add_argument("--wall-s", type=float, default=None, help="its wall time in seconds")
    c.add_argument("--results-dir", default=None, help="default: the resolved config's results_dir")
    c.add_argument("--out", required=True)
    c.add_argument("--chain", default=None, help="the dataset whose chain --command ran (collected chain by chain)")
    c.add_argument("--note", default=None, help="how the chain ran, kept in rung.yaml beside its wall time")
    rc = sub.add_parser("reclaim", help="re-judge committed rungs with the current claim and gate rules")
    rc.add_argument("rung_dirs", nargs="+", help="evidence/ladder/<rung> folders")
    r = sub.add_parser("render", help="the figure and table across the rungs")
    r.add_argument("--root", required=True, help="folder of rung folders")
    r.add_argument("--out", required=True)
    rd = sub.add_parser("readings", help="the table and figure across the readings of one rung")
    rd.add_argument("--root", required=True, help="folder of reading folders (evidence/readings/<rung>)")
    rd.add_argument("--out", required=True)
    cp = sub.add_parser("compare", help="the readings table over named committed folders, one column each")
    cp.add_argument("--folder", nargs="+", required=True, metavar="NAME=PATH",
                    help="a column name and a committed rung or reading folder (one holding rung.yaml)")
    cp.add_argument("--title", required=True)
    cp.add_argument("--out", required=True, help="the Markdown file to write")
    args = p.parse_args(argv)
    try:
        if args.cmd == "collect":
            print(collect_rung(args.rung, args.presets, args.command, args.wall_s, args.out, args.results_dir,
                               chain=args.chain, note=args.note))
        elif args.cmd == "reclaim":
            for rung_dir in args.rung_dirs:
                for path in reclaim_rung(rung_dir):
                    print(path)
        else:
            from vaesae import workflow as wf

            paper = wf.load_config()["claims"]["paper"]  # the paper's values (config.yaml claims.paper)
            if args.cmd == "compare":
                from vaesae.io import write_text
                from vaesae.studies.readings import compare_markdown, read_folder

                pairs = [f.split("=", 1) for f in args.folder]
                bad = [f for f, pair in zip(args.folder, pairs) if len(pair) != 2 or not all(pair)]
                if bad:
                    raise LadderError(f"--folder takes NAME=PATH, got {bad[0]!r}")
                write_text(args.out, compare_markdown([read_folder(path, name) for name, path in pairs], paper,
                                                      args.title))
                paths = [args.out]
            elif args.cmd == "readings":
                from vaesae.studies.readings import render_readings

                paths = render_readings(args.root, paper, args.out)
            else:
                paths = render_ladder(args.root, paper, args.out)
            for path in paths:
                print(path)
    except LadderError as err:
        raise SystemExit(f"vaesae.cli.ladder: {err}") from err
    return 0


if __name__ == "__main__":
    sys.exit(main())
