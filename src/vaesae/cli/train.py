"""Entry point of the four training rules.

    python -m vaesae.cli.train {pretrain,init,sparsify,extend} --dataset FILE.h5 --seed 42 --params JSON \
        [--init CKPT] [--method M] --out-model model.pt --out-history history.csv --out-raw history.h5 \
        [--threads N] [--checkpoint-minutes N]

``--params`` carries only the config sections the stage uses (the Snakemake rule builds it from config.yaml).
``--method`` is a row of the methods table (``vaesae.methods``) for sparsify and extend (extend: a method with
extended training), and ``none`` for pretrain and init, which every method shares.
"""

from __future__ import annotations

import argparse
import logging
import sys

from vaesae import methods
from vaesae.device import job_environment
from vaesae.io import parse_params
from vaesae.train.loop import STAGES, StageRunner


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vaesae.cli.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("stage", choices=STAGES)
    ap.add_argument("--dataset", required=True, help="canonical dataset HDF5")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--params", required=True, help="JSON object of the config sections this stage uses")
    ap.add_argument("--init", default=None, help="checkpoint of the previous stage")
    ap.add_argument("--method", default="none", choices=["none", *methods.METHODS],
                    help="stage-3 method (sparsify, extend); none for pretrain and init")
    ap.add_argument("--out-model", required=True)
    ap.add_argument("--out-history", required=True)
    ap.add_argument("--out-raw", default=None, help="raw per-epoch history (HDF5; default: --out-history with .h5)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--checkpoint-minutes", type=float, default=10.0, metavar="N",
                    help="write the resume checkpoint after the first epoch ending at least N minutes after the last "
                         "one (0: after every epoch); a killed job loses about N minutes")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    shared = args.stage in ("pretrain", "init")
    if shared and args.method != "none":
        ap.error(f"stage {args.stage} is shared by every method: leave --method out (none)")
    if not shared and args.method == "none":
        ap.error(f"stage {args.stage} needs --method (one of {', '.join(methods.METHODS)})")
    if args.stage == "extend" and not methods.get(args.method).extended:
        ap.error(f"method {args.method} has no extended training (extended=False in the methods table)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("vaesae.train").info("job environment: %s", job_environment())
    runner = StageRunner(
        args.stage,
        dataset_file=args.dataset,
        seed=args.seed,
        params=parse_params(args.params),
        out_model=args.out_model,
        out_history=args.out_history,
        out_raw=args.out_raw,
        init_checkpoint=args.init,
        method=args.method,
        threads=args.threads,
        checkpoint_minutes=args.checkpoint_minutes,
        progress=not args.no_progress,
    )
    runner.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
