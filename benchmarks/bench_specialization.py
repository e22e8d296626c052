"""Benchmark: vectorized ``neuron_factor_mi`` vs the per-neuron sklearn loop.

    .venv/bin/python benchmarks/bench_specialization.py [--neurons 8192] [--samples 10000] [--loop-neurons 512]

Synthetic SAE activations: ~5% nonzero positive float32 values, a share of dead (all-zero) neurons, six factors
(Shapes3D sizes 10, 10, 10, 8, 4, 15 by default, or dSprites' 1, 3, 6, 40, 32, 32).  The sklearn loop is timed on
``--loop-neurons`` evenly spaced neurons (dead ones included in proportion) and extrapolated linearly to all neurons;
its result on that subset is also compared with the vectorized one.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.metrics import mutual_info_score

from vaesae.metrics import factor_entropy, neuron_factor_mi

FACTOR_SIZES = {"shapes3d": (10, 10, 10, 8, 4, 15), "dsprites": (1, 3, 6, 40, 32, 32)}


def sklearn_loop(acts: np.ndarray, factors: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """The obvious implementation: one np.histogram/np.digitize and F mutual_info_score calls per neuron."""
    h = np.array([mutual_info_score(factors[:, j], factors[:, j]) for j in range(factors.shape[1])])
    out = np.zeros((acts.shape[1], factors.shape[1]))
    for i in range(acts.shape[1]):
        a = acts[:, i]
        codes = np.digitize(a, np.histogram(a, n_bins)[1][:-1])
        for j in range(factors.shape[1]):
            out[i, j] = mutual_info_score(codes, factors[:, j]) / h[j] if h[j] > 0 else 0.0
    return out


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--neurons", type=int, default=8192)
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--density", type=float, default=0.05)
    p.add_argument("--dead-fraction", type=float, default=0.35)
    p.add_argument("--factors", choices=sorted(FACTOR_SIZES), default="shapes3d")
    p.add_argument("--loop-neurons", type=int, default=512, help="neurons the sklearn loop is timed on")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    rng = np.random.default_rng(args.seed)
    n, m = args.samples, args.neurons
    factors = np.stack([rng.integers(0, k, n) for k in FACTOR_SIZES[args.factors]], axis=1)
    acts = np.zeros((n, m), dtype=np.float32)
    mask = rng.random((n, m)) < args.density
    acts[mask] = rng.exponential(1.0, size=int(mask.sum())).astype(np.float32)
    acts[:, : int(args.dead_fraction * m)] = 0.0
    acts[:, int(args.dead_fraction * m) :: 50] *= (factors[:, [2]] + 1) / 5.0  # a few factor-dependent neurons
    acts = acts[:, rng.permutation(m)]
    assert factor_entropy(factors).shape == (factors.shape[1],)

    print(
        f"acts {n} x {m} float32, {100 * np.count_nonzero(acts) / acts.size:.2f}% nonzero, "
        f"{int(np.sum(~acts.any(axis=0)))} dead neurons; factors {args.factors} {FACTOR_SIZES[args.factors]}; "
        f"threads: torch {torch.get_num_threads()}, cpus {os.cpu_count()}"
    )
    subset = np.linspace(0, m - 1, min(args.loop_neurons, m)).round().astype(int)
    t0 = time.perf_counter()
    ref = sklearn_loop(acts[:, subset], factors)
    t_loop_subset = time.perf_counter() - t0
    t_loop = t_loop_subset * m / len(subset)
    print(
        f"sklearn per-neuron loop: {t_loop_subset:.2f} s on {len(subset)} neurons (timed on a subset), "
        f"extrapolated to {m} neurons: {t_loop:.1f} s"
    )

    csr = sp.csr_matrix(acts)
    tensor = torch.from_numpy(acts)
    inputs = {"numpy dense": acts, "scipy CSR": csr, "torch CPU": tensor}
    if torch.cuda.is_available():
        inputs["torch CUDA"] = tensor.cuda()
    for name, x in inputs.items():
        got = neuron_factor_mi(x, factors)
        if name == "torch CUDA":
            torch.cuda.synchronize()
        err = float(np.abs(got[subset] - ref).max())
        t = best_of(lambda: neuron_factor_mi(x, factors), args.repeats)
        print(
            f"neuron_factor_mi [{name:11s}]: {t:.3f} s (best of {args.repeats})  speed-up {t_loop / t:6.1f}x  "
            f"max |diff| vs loop {err:.1e}"
        )


if __name__ == "__main__":
    main()
