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

from vaesae import methods, sparsifiers
from vaesae.data.device import load_device_data
from vaesae.device import job_environment, resolve_device
from vaesae.evaluation import forward_eval, measure
from vaesae.io import atomic_path, parse_params
from vaesae.models.hybrid import HybridVAESAE
from vaesae.train.checkpoint import load_checkpoint
from vaesae.train.config import DataSplitConfig, ModelConfig, MonitorConfig
from vaesae.train.history import READING_SUFFIX

log = logging.getLogger("vaesae.evaluate")
SCALARS = ("mig", "mse")


def to_csr(acts: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, indices, values) of a dense (N, M) activation matrix; computed on its device."""
    nz = acts != 0
    counts = nz.sum(1)
    indptr = np.zeros(acts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts.cpu().numpy(), out=indptr[1:])
    rows, cols = torch.nonzero(nz, as_tuple=True)
    return indptr, cols.cpu().numpy().astype(np.int32), acts[rows, cols].float().cpu().numpy()


def check_phase(ckpt: dict, phase: str, checkpoint: str) -> None:
    """The checkpoint is the phase's run: stage ``init`` for init, else the phase's stage and method."""
    stage, method = methods.phase_run(phase)
    got = (ckpt.get("stage"), ckpt.get("method") if stage != "init" else "shared")
    if got != (stage, method):
        raise ValueError(f"checkpoint {checkpoint} is stage {got[0]!r}, method {ckpt.get('method')!r}: "
                         f"not a run of phase {phase!r} (stage {stage!r}, method {method!r})")  # fmt: skip


def evaluate_checkpoint(dataset: str, seed: int, phase: str, checkpoint: str, params: dict, out: str) -> dict:
    """ã of the phase's sparsifier (remade from the checkpoint: method, ``sparsify`` keys and state; init: Top-k at
    the stored k) and the pre-Top-k reading ReLU(pre) on the evaluation set, their raw measurements (no threshold:
    dead and specialized counts are computed downstream), and the evaluation file."""
    model_cfg = ModelConfig.from_params(params["model"])
    split = DataSplitConfig.from_params(params["data"])
    monitor = MonitorConfig.from_params(params["eval"])
    device = resolve_device(params["device"], tf32=params["optim"]["tf32"])
    data = load_device_data(dataset, seed, val_fraction=split.val_fraction, shapes3d_n_val=split.shapes3d_n_val,
                            n_eval=monitor.n_samples, device=device, part="eval")  # fmt: skip
    ckpt = load_checkpoint(checkpoint, map_location=device)
    check_phase(ckpt, phase, checkpoint)
    model = HybridVAESAE(data.channels, model_cfg).to(device)
    model.load_state_dict(ckpt["model"])
    model.eval()
    sparsifier = sparsifiers.for_checkpoint(ckpt, model_cfg, device)
    k = None if ckpt["k"] < 0 else int(ckpt["k"])
    k_lat = None if ckpt["k_latent"] < 0 else int(ckpt["k_latent"])
    outputs = forward_eval(model, data.eval_images(), k, k_lat, monitor.batch_size, activate=sparsifier.activate)
    factors = data.eval_factors()
    metrics = measure(outputs, factors, n_bins=monitor.n_bins)
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
            for reading, suffix in READING_SUFFIX.items():
                r = metrics[key][reading]
                g.create_dataset(f"mi{suffix}", data=r["mi"])
                g.create_dataset(f"activation_rate{suffix}", data=r["rates"])
                g.attrs[f"active{suffix}"] = r["active"]
            g.attrs["n_neurons"] = acts.shape[1]
        f.attrs.update(
            dataset=data.name,
            seed=seed,
            phase=phase,
            method=ckpt["method"] if phase != "init" else "none",
            k=-1 if k is None else k,
            k_latent=-1 if k_lat is None else k_lat,
            n_neurons=outputs.a_conv.shape[1],
            n_latent_neurons=outputs.a_lat.shape[1],
            n_eval=len(factors),
            factor_names=list(data.factor_names),
            n_bins=monitor.n_bins,
            data_source=data.source,
            data_description=data.description,
            **{s: metrics[s] for s in SCALARS},
        )
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("job environment: %s", job_environment())
    if args.threads:
        torch.set_num_threads(args.threads)
    evaluate_checkpoint(args.dataset, args.seed, args.phase, args.checkpoint, parse_params(args.params), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
