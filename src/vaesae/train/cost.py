"""What a training job's configured work costs, and the guard against a silent multi-hour run on the CPU.

    FLOP per training image  = 3 · F_fwd(parts that train) + F_fwd(frozen parts)       (backward ≈ 2 × forward)
    FLOP of the job          = FLOP per image · ⌊N_train / B⌋ · B · epochs
    CPU seconds  (estimate)  = FLOP of the job / (CPU_GFLOPS_PER_THREAD · 10⁹ · torch threads)

F_fwd is counted by ``torch.utils.flop_counter`` on the meta device (no memory, no arithmetic): pretraining trains
the VAE; SAE initialisation runs the VAE forward only and trains the two SAEs; stage 3 and extended training train
everything. ``CPU_GFLOPS_PER_THREAD`` is what a paper-scale stage-3 epoch reached on this project's CPU machine
(BENCHMARKS.md: 307 TFLOP in 3,348 s on 2 threads, about 46 GFLOP/s per thread), rounded up, so that the estimate
errs short.

``device: auto`` falls back to the CPU when torch sees no GPU (a driver older than the CUDA build, a job started
without ``--gpus``). :func:`check_cpu_fallback` stops such a job at once when its estimate exceeds
``CPU_FALLBACK_LIMIT_S`` (an hour): at paper scale a stage-3 epoch takes about 2,900-3,300 s on the CPU, so the
run would take days without a word. ``device: cpu`` runs it on the CPU anyway; the quick and tiny presets stay far
below the limit.
"""

from __future__ import annotations

import logging

import torch

from vaesae.device import DeviceError
from vaesae.train.config import ModelConfig

log = logging.getLogger("vaesae.train")

CPU_GFLOPS_PER_THREAD = 50.0
CPU_FALLBACK_LIMIT_S = 3600.0


def forward_flops(model_cfg: ModelConfig, channels: int, k: int | None = None) -> tuple[float, float]:
    """(VAE, SAEs) forward FLOP per image, counted on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    from vaesae.models.hybrid import HybridVAESAE

    with torch.device("meta"):
        model = HybridVAESAE(channels, model_cfg)
        x = torch.empty(2, channels, 64, 64)
    with FlopCounterMode(display=False) as counter:
        model.vae(x)
    vae = counter.get_total_flops() / 2
    with FlopCounterMode(display=False) as counter:
        model(x, k or model_cfg.conv_sae_neurons, 1)
    return vae, counter.get_total_flops() / 2 - vae


def training_flops(stage: str, model_cfg: ModelConfig, channels: int, images_per_epoch: int, epochs: int) -> float:
    """FLOP of a training job: ``epochs`` epochs of ``images_per_epoch`` images (the formula above)."""
    vae, saes = forward_flops(model_cfg, channels)
    per_image = {"pretrain": 3 * vae, "init": vae + 3 * saes}.get(stage, 3 * (vae + saes))
    return per_image * images_per_epoch * epochs


def cpu_seconds(flops: float, threads: int | None = None) -> float:
    return flops / (CPU_GFLOPS_PER_THREAD * 1e9 * (threads or torch.get_num_threads()))


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def check_cpu_fallback(requested: str, device: torch.device, what: str, flops: float) -> float | None:
    """Stop a ``device: auto`` job that fell back to the CPU when its estimate is over the limit; returns the estimate
    (seconds) when the job runs on the CPU, else ``None``."""
    if device.type != "cpu":
        return None
    threads = torch.get_num_threads()
    seconds = cpu_seconds(flops, threads)
    if requested == "auto" and seconds > CPU_FALLBACK_LIMIT_S:
        raise DeviceError(
            f"device: auto found no GPU (torch {torch.__version__}: torch.cuda.is_available() is False), and {what} "
            f"would take about {_duration(seconds)} on this CPU ({flops / 1e12:,.0f} TFLOP at about "
            f"{CPU_GFLOPS_PER_THREAD:.0f} GFLOP/s per thread x {threads} threads). Stopped before training. Check "
            "the GPU (nvidia-smi; a driver older than torch's CUDA build; a SLURM job without --gpus), or set "
            "device: cpu to train on the CPU anyway."
        )
    if requested == "auto":
        log.info("device: auto found no GPU; training on the CPU (about %s estimated)", _duration(seconds))
    return seconds
