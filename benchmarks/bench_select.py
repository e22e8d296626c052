"""Benchmark: BatchTopK's selection at the paper's shape, ``torch.topk`` over the flattened batch (the former
implementation) against the radix select of ``vaesae.sparsifiers.select``, on the CPU.

    .venv/bin/python benchmarks/bench_select.py [--batch 512] [--neurons 8192] [--k 500 50] [--repeats 7] [--threads 1]

For each k it times, as the median of ``--repeats`` calls after a warm-up, the whole ``batch_topk`` (select + mask
the (B, m) ReLU output) both ways and the threshold alone (``topk(...).values.min()`` vs ``kth_largest``), and counts
the aten ops each issues (a ``TorchDispatchMode`` that logs every op). CPU only: on CUDA the former is a full sort (one
slice of ≥ 100 000 elements), which this does not measure.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from vaesae.sparsifiers.batchtopk import batch_topk
from vaesae.sparsifiers.select import kth_largest


def old_batch_topk(a: torch.Tensor, k_total: int) -> torch.Tensor:
    flat = a.reshape(-1)
    if k_total >= flat.numel():
        return a
    values, indices = torch.topk(flat, k_total, sorted=False)
    return torch.zeros_like(flat).scatter_(0, indices, values).reshape(a.shape)


def old_threshold(a: torch.Tensor, k_total: int) -> torch.Tensor:
    return torch.topk(a.reshape(-1), k_total, sorted=False).values.min()


def new_threshold(a: torch.Tensor, k_total: int) -> torch.Tensor:
    return kth_largest(a, k_total)[0]


class OpCount(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += 1
        return func(*args, **(kwargs or {}))


def median_ms(fns, repeats: int) -> list[float]:
    """The median time of each of ``fns``, timed in interleaved rounds (so that a change of load hits them alike)."""
    times: list[list[float]] = [[] for _ in fns]
    for fn in fns:
        fn()  # warm-up
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return [1e3 * statistics.median(ts) for ts in times]


def ops(fn) -> int:
    with OpCount() as count:
        fn()
    return count.n


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--neurons", type=int, default=8192)
    ap.add_argument("--k", type=int, nargs="+", default=[500, 50], help="k per sample (k_total = k · batch)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a quick-preset job has 1)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    a = torch.relu(torch.randn(args.batch, args.neurons, generator=g))  # about half zeros, as after ReLU
    print(f"torch {torch.__version__}, {args.threads} thread(s), a = ReLU(N(0, 1)) of shape {tuple(a.shape)}, "
          f"median of {args.repeats}")  # fmt: skip
    print(f"{'k':>5} {'k_total':>8}  {'what':<10} {'old ms':>8} {'new ms':>8} {'speed-up':>8} {'old ops':>7} "
          f"{'new ops':>7}  same")  # fmt: skip
    for k in args.k:
        K = k * args.batch
        for what, old, new in (("batch_topk", old_batch_topk, batch_topk), ("threshold", old_threshold, new_threshold)):
            t_old, t_new = median_ms([lambda: old(a, K), lambda: new(a, K)], args.repeats)
            same = torch.equal(old(a, K), new(a, K))
            print(f"{k:>5} {K:>8}  {what:<10} {t_old:>8.1f} {t_new:>8.1f} {t_old / t_new:>7.2f}x "
                  f"{ops(lambda: old(a, K)):>7} {ops(lambda: new(a, K)):>7}  {same}")  # fmt: skip


if __name__ == "__main__":
    main()
