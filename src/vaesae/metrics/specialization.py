"""Neuron specialization: mutual information between each SAE neuron's activation and each factor.

For neuron i with activations a_i (N,) and factor j with classes v_j (N,)::

    c_i        = discretize(a_i, n_bins)                      # np.digitize(a_i, np.histogram(a_i, n_bins)[1][:-1])
    MI[i, j]   = mutual_info_score(c_i, v_j)                  # nats, sklearn's formula
    nMI[i, j]  = MI[i, j] / H(v_j)   (0 when H(v_j) = 0)      # normalize=True
    specialized = #{i : max_j nMI[i, j] > threshold}           # or max_j MI[i, j] > threshold nats (``in_unit``)

Each neuron's bins span its own [min, max] over the N samples (a dead, all-zero neuron has one bin and MI 0).

Vectorized over neurons: SAE activations are mostly exact zeros, so only the nonzero entries are digitized
individually (against exact per-neuron np.histogram edges, see ``discretize``); the zeros of neuron i all fall in the
one bin ``digitize(0)`` and are added per class as ``count(class) - count(nonzero entries of that class)``.  The joint
(neuron, bin, class) counts of a chunk of neurons come from one ``torch.bincount`` per factor on the tensor's
device; with bin counts p_b, class counts q_k and joint counts J_bk (sum N),
sklearn's sum regroups exactly into ``MI = (N log N + sum J log J - sum p log p - sum q log q) / N``, evaluated for
every table at once in float64 from a c*log(c) table (agrees with the sklearn loop to ~1e-15; MI is set to 0 when the
neuron occupies one bin or the factor one class, as sklearn does, and clipped at 0).
Inputs: a torch tensor (N, M) on any device (the pipeline's case: the evaluation activations on the GPU); a numpy
array or scipy.sparse matrix is first made a dense CPU tensor, so there is one implementation. The slow, obvious
per-neuron sklearn loop is the reference in tests/test_metrics.py.
"""

from __future__ import annotations

import numpy as np

from .discretize import histogram_edges
from .mutual_info import factor_entropy, relabel_columns

__all__ = ["MI_UNITS", "in_unit", "neuron_factor_mi", "specialized_count"]

#: The unit the specialization threshold is read in (``eval.specialization_mi``): MI normalised by the factor's
#: entropy (the paper's reading, method-notes) or raw MI in nats (method-notes' config alternative).
MI_UNITS = ("normalized", "nats")


def in_unit(nmi, entropy, unit: str) -> np.ndarray:
    """Normalised MI (M, F) in ``unit``: as is, or raw MI in nats, MI[i, j] = nMI[i, j] · H(v_j) (the factor entropies
    ``entropy`` (F,), ``mutual_info.factor_entropy`` of the evaluation factors; nMI = 0 where H = 0, so MI = 0)."""
    if unit not in MI_UNITS:
        raise ValueError(f"eval.specialization_mi must be one of {list(MI_UNITS)}, got {unit!r}")
    nmi = np.asarray(nmi, dtype=np.float64)
    if unit == "normalized":
        return nmi
    entropy = np.asarray(entropy, dtype=np.float64)
    if entropy.shape != nmi.shape[-1:]:
        raise ValueError(f"factor entropies {entropy.shape} do not match the MI matrix's factors {nmi.shape}")
    return nmi * entropy


def neuron_factor_mi(acts, factors, n_bins: int = 20, normalize: bool = True, chunk: int = 1024) -> np.ndarray:
    """MI (nats, or normalized by the factor entropy) between each neuron of ``acts`` (N, M) and each factor -> (M, F).

    ``acts``: torch tensor (computed on its device, float64 accumulation); numpy and scipy.sparse inputs are made a
    dense CPU tensor first.
    ``factors``: integer (N, F) classes.  ``chunk`` neurons are processed at a time to bound memory.  Equals the
    per-neuron loop ``mutual_info_score(np.digitize(a, np.histogram(a, n_bins)[1][:-1]), v)`` to float64 rounding.
    The result is always a float64 numpy array.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    factors = np.asarray(factors)
    if factors.ndim != 2:
        raise ValueError(f"factors must be 2-D (N, F), got shape {factors.shape}")
    acts = _as_tensor(acts)
    if acts.dim() != 2:
        raise ValueError(f"acts must be 2-D (N, M), got shape {tuple(acts.shape)}")
    n, m = acts.shape
    if n != factors.shape[0]:
        raise ValueError(f"acts has {n} samples but factors has {factors.shape[0]}")
    if n == 0:
        raise ValueError("neuron_factor_mi needs at least one sample")
    fk, k_sizes = relabel_columns(factors)
    entropy = factor_entropy(factors)
    mi = _mi_torch(acts, fk, k_sizes, n_bins, chunk)
    if normalize:
        valid = entropy > 0
        mi[:, valid] /= entropy[valid]
        mi[:, ~valid] = 0.0
    return mi


def specialized_count(mi: np.ndarray, threshold: float) -> int:
    """Number of neurons (rows of ``mi`` (M, F)) whose MI exceeds ``threshold`` for at least one factor."""
    mi = np.asarray(mi)
    if mi.ndim != 2:
        raise ValueError(f"mi must be 2-D (M, F), got shape {mi.shape}")
    return int(np.count_nonzero((mi > threshold).any(axis=1)))


# --------------------------------------------------------------------------------------------------------- torch


def _xlogx_table(n: int) -> np.ndarray:
    """``t[c] = c * log(c)`` for integer counts c = 0..n (t[0] = 0), float64."""
    c = np.arange(n + 1, dtype=np.float64)
    t = np.zeros(n + 1, dtype=np.float64)
    t[1:] = c[1:] * np.log(c[1:])
    return t




def _as_tensor(acts):
    import torch

    if isinstance(acts, torch.Tensor):
        if acts.layout != torch.strided:
            raise TypeError("torch sparse tensors are not supported; pass a dense tensor or a scipy.sparse matrix")
        return acts
    if hasattr(acts, "toarray"):  # scipy.sparse
        acts = acts.toarray()
    acts = np.asarray(acts)
    if not (np.issubdtype(acts.dtype, np.number) or acts.dtype == np.bool_):
        raise TypeError(f"acts must be numeric, got dtype {acts.dtype}")
    return torch.from_numpy(np.ascontiguousarray(acts))


def _torch_numpy_dtype(tdtype):
    import torch

    table = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}
    if tdtype in table:
        return np.dtype(table[tdtype])
    if tdtype == torch.bfloat16:  # numpy has no bfloat16: bins as for the float32 copy (exact values)
        return np.dtype(np.float32)
    return np.dtype(np.float64)  # integers / bool: np.histogram bins them in float64


def _digitize_codes_torch(values, cols, edges):
    """torch version of ``discretize.digitize_codes`` (same guess-and-correct, exact against ``edges``)."""
    import torch

    n_bins = edges.shape[1] - 1
    lo = edges[:, 0]
    scale = n_bins / (edges[:, -1] - lo)
    g = torch.floor((values - lo[cols]) * scale[cols]).clamp_(0, n_bins - 1).to(torch.int64)
    flat = edges.reshape(-1)
    base = cols * (n_bins + 1)
    while True:
        up = (g < n_bins - 1) & (flat[base + (g + 1).clamp(max=n_bins)] <= values)
        down = (g > 0) & (flat[base + g] > values)
        if not bool((up | down).any()):
            return g + 1
        g = g + up.to(torch.int64) - down.to(torch.int64)


def _mi_torch(acts, fk, k_sizes, n_bins, chunk) -> np.ndarray:
    """MI (M, F) of every neuron, ``chunk`` neurons at a time, with torch ops on ``acts.device``.

    With joint counts J[b, k], bin counts p[b] and class counts q[k] of one neuron and factor (sum N)::

        I = (N log N + sum J log J - sum p log p - sum q log q) / N

    which is sklearn's sum of p(b,k) log[p(b,k) / (p(b) p(k))] regrouped, evaluated with a c*log(c) table
    (exact to float64 rounding, |error| ~ 1e-15 nats).
    """
    import torch

    device = acts.device
    n, m = acts.shape
    np_dtype = _torch_numpy_dtype(acts.dtype)
    labels = torch.as_tensor(fk, device=device)
    class_counts = [torch.bincount(labels[:, f], minlength=int(k)) for f, k in enumerate(k_sizes)]
    xlogx = torch.as_tensor(_xlogx_table(n), device=device)
    n_log_n = float(xlogx[n])
    s_classes = [float(xlogx[c].sum()) for c in class_counts]
    out = np.zeros((m, len(k_sizes)), dtype=np.float64)
    with torch.no_grad():
        for c0 in range(0, m, chunk):
            x = acts[:, c0 : c0 + chunk]
            if acts.dtype == torch.bfloat16:
                x = x.float()
            elif not x.is_floating_point():  # integers / bool: binned in float64, as np.histogram does
                x = x.to(torch.float64)
            n_cols = x.shape[1]
            lo = x.amin(dim=0).cpu().numpy().astype(np_dtype)
            hi = x.amax(dim=0).cpu().numpy().astype(np_dtype)
            edges_np = histogram_edges(lo, hi, n_bins, dtype=np_dtype).astype(np.float64)
            edges = torch.as_tensor(edges_np, device=device)
            rows, cols = torch.nonzero(x, as_tuple=True)
            vals = x[rows, cols].to(torch.float64)
            codes = _digitize_codes_torch(vals, cols, edges)
            zero_code = (edges[:, :n_bins] <= 0.0).sum(dim=1).clamp(1, n_bins)
            base = cols * n_bins + (codes - 1)
            col_index = torch.arange(n_cols, device=device)
            bins = torch.bincount(base, minlength=n_cols * n_bins).reshape(n_cols, n_bins)
            bins[col_index, zero_code - 1] += n - bins.sum(dim=1)
            s_bins = xlogx[bins].sum(dim=1)
            one_bin = (bins > 0).sum(dim=1) <= 1
            mi_chunk = torch.zeros((n_cols, len(k_sizes)), dtype=torch.float64, device=device)
            for f, k in enumerate(k_sizes):
                k = int(k)
                if k <= 1:
                    continue
                idx = base * k + labels[rows, f]
                joint = torch.bincount(idx, minlength=n_cols * n_bins * k).reshape(n_cols, n_bins, k)
                joint[col_index, zero_code - 1, :] += class_counts[f][None, :] - joint.sum(dim=1)
                s_joint = xlogx[joint].sum(dim=(1, 2))
                mi = ((s_joint - s_bins) + (n_log_n - s_classes[f])) / n
                mi_chunk[:, f] = torch.where(one_bin, torch.zeros_like(mi), mi).clamp_(min=0.0)
            out[c0 : c0 + n_cols] = mi_chunk.cpu().numpy()
    return out
