"""Entry point of the ``dataset_preview`` rule: samples and factor sweeps of one canonical dataset file.

    python -m vaesae.cli.preview --dataset FILE.h5 --out dataset_dsprites.png   (a PDF is written next to it)
"""

from __future__ import annotations

import argparse
import sys

from vaesae.report.preview import figure_dataset_preview
from vaesae.report.style import apply_style, save_figure


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vaesae.cli.preview", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True, help="canonical dataset HDF5")
    ap.add_argument("--out", required=True, help="PNG path (the PDF goes next to it)")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    apply_style()
    for path in save_figure(figure_dataset_preview(args.dataset, args.samples, args.seed), args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
