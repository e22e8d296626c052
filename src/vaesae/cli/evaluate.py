"""Entry point of the ``evaluate`` rule: the final evaluation file of one trained phase (``vaesae.evalfile``,
docs/FORMATS.md).

    python -m vaesae.cli.evaluate --dataset FILE.h5 --seed 42 --phase topk --checkpoint model.pt \
        --params JSON --out eval.h5 [--threads N]

``--params`` (the rule's: device, model, optim.tf32, data, eval) is typed here, once
(``vaesae.config.sections.EvalConfig``), and the evaluation gets the typed config.
"""

from __future__ import annotations

import argparse
import logging
import sys

import torch

from vaesae import methods, sparsifiers
from vaesae.config.sections import EvalConfig
from vaesae.device import job_environment
from vaesae.evalfile import SCALARS, write_eval
from vaesae.evaluation import forward_eval, measure
from vaesae.io import parse_params
from vaesae.train.assemble import RunAssembly

log = logging.getLogger("vaesae.evaluate")


def check_phase(ckpt: dict, phase: str, checkpoint: str) -> None:
    """The checkpoint is the phase's run: stage ``init`` for init, else the phase's stage and method."""
    stage, method = methods.phase_run(phase)
    got = (ckpt.get("stage"), ckpt.get("method") if stage != "init" else "shared")
    if got != (stage, method):
        raise ValueError(f"checkpoint {checkpoint} is stage {got[0]!r}, method {ckpt.get('method')!r}: "
                         f"not a run of phase {phase!r} (stage {stage!r}, method {method!r})")  # fmt: skip


def evaluate_checkpoint(dataset: str, seed: int, phase: str, checkpoint: str, config: EvalConfig, out: str) -> dict:
    """ã of the phase's sparsifier (remade from the checkpoint: method, ``sparsify`` keys and state; init: Top-k at
    the stored k) and the pre-Top-k reading ReLU(pre) on the evaluation set, their raw measurements (no threshold:
    dead and specialized counts are computed downstream), and the evaluation file. ``config``: the rule's typed
    ``--params`` (``EvalConfig.from_params``)."""
    model_cfg, monitor = config.model, config.monitor
    run = RunAssembly(dataset, seed, device=config.device, tf32=config.optim.tf32, split=config.data,
                      n_eval=monitor.n_samples, part="eval")  # fmt: skip
    data = run.data
    ckpt = run.checkpoint(checkpoint)
    check_phase(ckpt, phase, checkpoint)
    model = run.model(model_cfg)
    model.load_state_dict(ckpt["model"])
    model.eval()
    sparsifier = sparsifiers.for_checkpoint(ckpt, model_cfg, run.device)
    k = None if ckpt["k"] < 0 else int(ckpt["k"])
    k_lat = None if ckpt["k_latent"] < 0 else int(ckpt["k_latent"])
    outputs = forward_eval(model, data.eval_images(), k, k_lat, monitor.batch_size, activate=sparsifier.activate)
    factors = data.eval_factors()
    metrics = measure(outputs, factors, n_bins=monitor.n_bins)
    write_eval(out, outputs, metrics, factors, dataset=data.name, seed=seed, phase=phase,
               method=ckpt["method"] if phase != "init" else "none", k=k, k_latent=k_lat,
               factor_names=list(data.factor_names), n_bins=monitor.n_bins, data_source=data.source,
               data_description=data.description)  # fmt: skip
    log.info("%s %s seed %d: %s", phase, data.name, seed, {s: metrics[s] for s in SCALARS})
    return {s: metrics[s] for s in SCALARS}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vaesae.cli.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--phase", required=True, choices=methods.phases(list(methods.METHODS)))
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--params", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    config = EvalConfig.from_params(parse_params(args.params))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("job environment: %s", job_environment())
    if args.threads:
        torch.set_num_threads(args.threads)
    evaluate_checkpoint(args.dataset, args.seed, args.phase, args.checkpoint, config, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
