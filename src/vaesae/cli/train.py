"""Entry point of the four training rules.

    python -m vaesae.cli.train {pretrain,init,sparsify,extend} --dataset FILE.h5 --seed 42 --params JSON \
        [--init CKPT] [--method M] --out-model model.pt --out-history history.csv --out-raw history.h5 \
        [--threads N] [--checkpoint-minutes N]

``--params`` carries only the config sections the stage uses (the Snakemake rule builds it from config.yaml); it is
typed here, once (``vaesae.config.sections.StageConfig``), and the runner gets the typed config. ``--method`` is a
row of the methods table (``vaesae.methods``) for sparsify and extend (extend: a method with extended training), and
``none`` for pretrain and init, which every method shares (the rule: ``vaesae.methods.stage_keys``).
"""

from __future__ import annotations

import argparse
import logging
import sys

from vaesae import methods
from vaesae.config.sections import StageConfig
from vaesae.device import job_environment
from vaesae.io import parse_params
from vaesae.train.loop import StageRunner


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vaesae.cli.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("stage", choices=methods.STAGES)
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
    try:
        methods.stage_keys(args.stage, args.method)
    except ValueError as err:
        ap.error(str(err))
    config = StageConfig.from_params(args.stage, parse_params(args.params), args.method)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("vaesae.train").info("job environment: %s", job_environment())
    runner = StageRunner(
        config,
        dataset_file=args.dataset,
        seed=args.seed,
        out_model=args.out_model,
        out_history=args.out_history,
        out_raw=args.out_raw,
        init_checkpoint=args.init,
        threads=args.threads,
        checkpoint_minutes=args.checkpoint_minutes,
        progress=not args.no_progress,
    )
    runner.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
