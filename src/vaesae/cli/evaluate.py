"""Entry point of the ``evaluate`` rule: the final evaluation file of one trained phase (docs/FORMATS.md).

    python -m vaesae.cli.evaluate --dataset FILE.h5 --seed 42 --phase topk --checkpoint model.pt \
        --params JSON --out eval.h5 [--threads N]
"""

from __future__ import annotations

import argparse
import logging
import sys

import h5py
import numpy as np
import torch

from vaesae.evaluation import forward_eval, measure
from vaesae.device import job_environment, resolve_device
from vaesae.io import atomic_path, parse_params
from vaesae.models.hybrid import HybridVAESAE
from vaesae.train.checkpoint import load_checkpoint
from vaesae.train.loop import load_device_data

log = logging.getLogger("vaesae.evaluate")
SCALARS = ("mig", "mse", "dead_pct", "specialized", "latent_dead_pct", "latent_specialized")


def to_csr(acts: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, indices, values) of a dense (N, M) activation matrix; computed on its device."""
    nz = acts != 0
    counts = nz.sum(1)
    indptr = np.zeros(acts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts.cpu().numpy(), out=indptr[1:])
    rows, cols = torch.nonzero(nz, as_tuple=True)
    return indptr, cols.cpu().numpy().astype(np.int32), acts[rows, cols].float().cpu().numpy()


def evaluate_checkpoint(dataset: str, seed: int, phase: str, checkpoint: str, params: dict, out: str) -> dict:
    device = resolve_device(params.get("device", "auto"), tf32=params["optim"].get("tf32", True))
    data = load_device_data(dataset, seed, params["data"], params["eval"]["n_samples"], device)
    ckpt = load_checkpoint(checkpoint, map_location=device)
    model = HybridVAESAE(data.channels, params["model"]).to(device)
    model.load_state_dict(ckpt["model"])
    model.eval()
    k = None if ckpt["k"] < 0 else int(ckpt["k"])
    k_lat = None if ckpt["k_latent"] < 0 else int(ckpt["k_latent"])
    outputs = forward_eval(model, data.eval_images(), k, k_lat, params["eval"]["batch_size"])
    factors = data.eval_factors()
    metrics = measure(outputs, factors, params["eval"])
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("factors", data=factors.astype(np.int64))
        f.create_dataset("vae_means", data=outputs.mu.float().cpu().numpy())
        f.create_dataset("latent_mi", data=metrics["latent_mi"])
        for group, acts, key in (("conv_sae", outputs.a_conv, "conv"), ("latent_sae", outputs.a_lat, "latent")):
            g = f.create_group(group)
            indptr, indices, values = to_csr(acts)
            g.create_dataset("indptr", data=indptr)
            g.create_dataset("indices", data=indices, compression="gzip", compression_opts=1)
            g.create_dataset("values", data=values, compression="gzip", compression_opts=1)
            g.create_dataset("mi", data=metrics[f"{key}_mi"])
            g.create_dataset("activation_rate", data=metrics[f"{key}_rates"])
            g.attrs["n_neurons"] = acts.shape[1]
        f.attrs.update(
            dataset=data.name,
            seed=seed,
            phase=phase,
            method=ckpt.get("method", "none") if phase != "init" else "none",
            k=-1 if k is None else k,
            k_latent=-1 if k_lat is None else k_lat,
            n_neurons=outputs.a_conv.shape[1],
            n_latent_neurons=outputs.a_lat.shape[1],
            n_eval=len(factors),
            factor_names=list(data.factor_names),
            dead_threshold=params["eval"]["dead_threshold"],
            specialization_threshold=params["eval"]["specialization_threshold"],
            **{s: metrics[s] for s in SCALARS},
        )
    log.info("%s %s seed %d: %s", phase, data.name, seed, {s: metrics[s] for s in SCALARS})
    return {s: metrics[s] for s in SCALARS}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vaesae.cli.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--phase", required=True, choices=["init", "topk", "l1", "topk_extended"])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--params", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("job environment: %s", job_environment())
    if args.threads:
        torch.set_num_threads(args.threads)
    evaluate_checkpoint(args.dataset, args.seed, args.phase, args.checkpoint, parse_params(args.params), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
