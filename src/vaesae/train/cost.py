"""What a training job's configured work costs, and the guard against a silent multi-hour run on the CPU.

    FLOP per training image  = 3 · F_fwd(parts that train) + F_fwd(frozen parts)       (backward ≈ 2 × forward)
    FLOP of the job          = FLOP per image · ⌊N_train / B⌋ · B · epochs
    CPU seconds  (estimate)  = FLOP of the job / (CPU_GFLOPS_PER_THREAD · 10⁹ · torch threads)

F_fwd is counted from the architecture (:func:`forward_flops`; ``torch.utils.flop_counter`` gives the same, tested):
pretraining trains the VAE; SAE initialisation runs the VAE forward only and trains the two SAEs; stage 3 and
extended training train everything. ``CPU_GFLOPS_PER_THREAD`` is what a paper-scale stage-3 epoch reached on this project's CPU machine
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

from vaesae.config.sections import ModelConfig
from vaesae.device import DeviceError

log = logging.getLogger("vaesae.train")

CPU_GFLOPS_PER_THREAD = 50.0
CPU_FALLBACK_LIMIT_S = 3600.0


def forward_flops(model_cfg: ModelConfig, channels: int) -> tuple[float, float]:
    """(VAE, SAEs) forward FLOP per image (2 per multiply-add), from the architecture of ``vaesae.models``:

        encoder  Σ_i (64/2^i)² · c_{i−1} · c_i · 4²  +  s² · c_n · h_ch · 3²  +  D · f  +  f · 2L
        decoder  L · f  +  f · D  +  s² · h_ch · c_n · 3²  +  Σ transposed 4×4 convs (input side)² · c_in · c_out · 4²
        SAEs     2 · D · m  +  2 · L · m_lat                        (encode and decode, ã used densely)

    with c_0 = C, s = 64/2^n, D = h_ch · s², f = fc_hidden. The same count as ``torch.utils.flop_counter``
    (tested), without its first-use cost (about 1.5 s per job, to set up the meta device).
    """
    c = [channels, *model_cfg.encoder_channels]
    n, h_ch, f, lat = len(c) - 1, model_cfg.h_channels, model_cfg.fc_hidden, model_cfg.latent_dim
    s = 64 // 2**n
    d = h_ch * s * s
    enc = sum((64 // 2 ** (i + 1)) ** 2 * c[i] * c[i + 1] * 16 for i in range(n)) + s * s * c[-1] * h_ch * 9
    enc += d * f + f * 2 * lat
    rev = [*reversed(model_cfg.encoder_channels), channels]
    dec = lat * f + f * d + s * s * h_ch * rev[0] * 9
    dec += sum((s * 2**i) ** 2 * rev[i] * rev[i + 1] * 16 for i in range(n))
    saes = 2 * d * model_cfg.conv_sae_neurons + 2 * lat * model_cfg.latent_sae_neurons
    return 2.0 * (enc + dec), 2.0 * saes


def training_flops(stage: str, model_cfg: ModelConfig, channels: int, images_per_epoch: int, epochs: int) -> float:
    """FLOP of a training job: ``epochs`` epochs of ``images_per_epoch`` images (the formula above)."""
    vae, saes = forward_flops(model_cfg, channels)
    per_image = {"pretrain": 3 * vae, "init": vae + 3 * saes}.get(stage, 3 * (vae + saes))
    return per_image * images_per_epoch * epochs


def cpu_seconds(flops: float, threads: int | None = None) -> float:
    return flops / (CPU_GFLOPS_PER_THREAD * 1e9 * (threads or torch.get_num_threads()))


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


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
    why = "device: auto found no GPU" if requested == "auto" else f"device: {requested}"
    log.info("%s: training on the CPU, about %s estimated for %s", why, _duration(seconds), what)
    return seconds
