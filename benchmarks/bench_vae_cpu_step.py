"""Benchmark: where a quick-preset VAE training step spends its CPU time, and what ``channels_last`` would save.

    .venv/bin/python benchmarks/bench_vae_cpu_step.py [--batch 128] [--repeats 10] [--rounds 5] [--threads 1]

Two measurements, under the deterministic kernels that training jobs use on the CPU:
1. forward + backward of each transposed convolution of the quick preset's decoder (its shapes at ``--batch``);
2. a whole VAE step (forward, Bernoulli reconstruction loss, backward, Adam) in the default memory format and in
   ``channels_last``. The two formats give different floating-point results, which is why training keeps the default.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
import yaml

from vaesae.device import deterministic_kernels
from vaesae.models.vae import VAE


def _timed(fn, repeats: int) -> float:
    for _ in range(2):  # warm-up
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=10, help="timed calls per measurement")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the whole-step comparison")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a quick-preset job has 1)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    deterministic_kernels()
    torch.manual_seed(0)
    quick = yaml.safe_load(open("workflow/presets/quick.yaml"))["model"]
    channels, h_channels, fc_hidden = quick["encoder_channels"], quick["h_channels"], quick["fc_hidden"]

    print(f"transposed convolutions of the quick decoder, batch {args.batch}, forward + backward:")
    rev, total, side = list(reversed(channels)), 0.0, 64 // 2 ** len(channels)
    for i, c_in in enumerate(rev):
        c_out = rev[i + 1] if i + 1 < len(rev) else 3
        x = torch.randn(args.batch, c_in, side, side, requires_grad=True)
        w = torch.randn(c_in, c_out, 4, 4, requires_grad=True)
        b = torch.randn(c_out, requires_grad=True)
        g = torch.randn(args.batch, c_out, 2 * side, 2 * side)
        t = _timed(lambda: F.conv_transpose2d(x, w, b, stride=2, padding=1).backward(g), args.repeats)
        print(f"  {c_in:3d} -> {c_out:3d} channels, {side:2d} -> {2 * side:2d} px: {t * 1e3:6.1f} ms")
        total, side = total + t, 2 * side
    print(f"  all: {total * 1e3:.1f} ms")

    print(f"whole VAE step (3 channels, batch {args.batch}), best of {args.rounds} interleaved rounds:")
    steps = {}
    for fmt in ("contiguous", "channels_last"):
        torch.manual_seed(0)
        model = VAE(3, channels, h_channels, fc_hidden, 10)
        x = torch.rand(args.batch, 3, 64, 64)
        if fmt == "channels_last":
            model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        steps[fmt] = _vae_step(model, x)
    best = {fmt: _timed(step, args.repeats) for fmt, step in steps.items()}
    for _ in range(args.rounds - 1):  # alternate the formats, so that a drift of the machine hits both alike
        for fmt, step in steps.items():
            best[fmt] = min(best[fmt], _timed(step, args.repeats))
    for fmt, t in best.items():
        print(f"  {fmt:13s}: {t:.3f} s")
    print(f"  channels_last / contiguous: {best['channels_last'] / best['contiguous']:.2f}")


def _vae_step(model, x):
    opt = torch.optim.Adam(model.parameters())

    def step():
        logits = model(x)[-1]
        F.binary_cross_entropy_with_logits(logits, x).backward()
        opt.step()
        opt.zero_grad()

    return step

if __name__ == "__main__":
    main()
