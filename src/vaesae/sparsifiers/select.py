"""The K-th largest entry of a non-negative tensor, and the mask of its K largest entries, without a sort.

BatchTopK keeps the k·B largest activations of a whole (B, m) batch, and JumpReLU's first threshold is the k·B-th
largest pre-activation. ``torch.topk`` over the flattened batch (4.19 M values at B = 512, m = 8192, K up to 256 000)
is a full sort on CUDA (one slice of ≥ 100 000 elements: ``should_use_sort`` in ATen's ``TensorTopK.cpp``). A per-row
top-k is not a substitute: a row may hold more than k of the batch's largest.

Here the K-th largest value τ is found by a radix select on the bit pattern. For x ≥ 0 the integer view of an IEEE
float is monotonic in x, so with the key

    key(x) = 0                               x ≤ 0 (−0.0, negatives, −inf: all count as 0)
    key(x) = bits(x) with the sign cleared   x > 0 or NaN (NaN then ranks above +inf, as in ``torch.topk``)

τ's key is built one 8-bit digit at a time, from the most significant: each pass counts the candidates (the entries
whose higher digits equal τ's so far) per digit value with ``index_add_`` into a fixed-size histogram, and picks the
largest digit d whose reversed cumulative count (candidates with digit ≥ d) reaches the rank still wanted, r:

    d*  = #{d : C(d) ≥ r} − 1            C(d) = #{candidates with digit ≥ d}   (non-increasing in d)
    r  ← r − C(d* + 1)                    the candidates above d* are all kept

4 passes for float32 (bf16 and fp16 are upcast to float32 first, which is exact), 8 for float64. After the last pass
the candidates are the entries equal to τ, and r = ``n_ties``: how many of them belong in the top K (the rest being the
K − r entries > τ). Nothing leaves the device: no ``.item()``, ``nonzero``, ``bincount`` or data-dependent shape, and
no Python branch on a tensor's value, so the callers stay free of host syncs and CUDA-graph capturable. Python ints
(K, shapes) do decide branches.

On CUDA the histogram is split into interleaved sub-histograms (entry j counts into sub-histogram j mod ``groups``),
which spreads the atomic adds of the many entries that share a digit (the zeros of a ReLU, one exponent range) over
more addresses; the counts are summed before the digit is picked. (Not measured on a GPU yet.)
"""

from __future__ import annotations

import math

import torch

DIGIT_BITS = 8
BINS = 1 << DIGIT_BITS
CUDA_GROUPS = 64  # sub-histograms on CUDA (a power of two); 1 elsewhere

_KEY_DTYPE = {torch.float32: torch.int32, torch.float64: torch.int64}


def _keys(x: torch.Tensor) -> torch.Tensor:
    """The flattened order keys of ``x`` (int32; int64 for float64): monotonic in x, 0 for x ≤ 0, NaN above +inf."""
    if not x.is_floating_point():
        raise TypeError(f"kth_largest needs a floating-point tensor, got {x.dtype}")
    xf = x.reshape(-1)
    if xf.dtype not in _KEY_DTYPE:  # bf16, fp16: exact in float32
        xf = xf.float()
    kdt = _KEY_DTYPE[xf.dtype]
    # clamp_min maps negatives and −inf to +0.0 and keeps NaN; the mask clears the sign of −0.0 and of a negative NaN
    return xf.clamp_min(0).view(kdt) & torch.iinfo(kdt).max


def _groups(n: int, device: torch.device, groups: int | None) -> int:
    """The number of sub-histograms: ``groups`` (default: CUDA_GROUPS on CUDA, else 1), reduced to divide n."""
    g = (CUDA_GROUPS if device.type == "cuda" else 1) if groups is None else int(groups)
    return max(1, math.gcd(g, n))


def _select(key: torch.Tensor, K: int, groups: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(the K-th largest key, n_ties) of the 1-d ``key``, both 0-d int64 tensors on its device; K clipped to numel.

    The histograms count with ``index_add_`` (a ``scatter_add_`` along the one dimension that, unlike it, takes an
    int32 index: no int64 copy of the digits per pass), in the key's integer dtype."""
    n = key.numel()
    if n == 0:
        raise ValueError("kth_largest of an empty tensor")
    if K < 1:
        raise ValueError(f"kth_largest needs K ≥ 1, got {K}")
    if n >= 2**31 and key.dtype == torch.int32:
        key = key.long()  # counts and indices past int32
    K = min(int(K), n)
    g = _groups(n, key.device, groups)
    offsets = torch.arange(g, device=key.device, dtype=key.dtype) * BINS  # entry j of a row -> sub-histogram j
    ones = torch.ones((), dtype=key.dtype, device=key.device).expand(n)
    # the passes write into these (fewer allocations of numel-sized buffers)
    src, digits, *shifted = (torch.empty_like(key) for _ in range(4))
    shifts = range(key.element_size() * 8 - DIGIT_BITS, -1, -DIGIT_BITS)
    rank: int | torch.Tensor = K  # the rank of τ among the candidates (1 = the largest)
    prefix: int | torch.Tensor = 0  # τ's key: its digits above the current one, the rest 0
    higher = None  # key >> (previous shift): the candidates are where it equals prefix >> (previous shift)
    for i, s in enumerate(shifts):
        hi = torch.bitwise_right_shift(key, s, out=shifted[i % 2]) if s else key
        if higher is None:  # the first pass: every entry is a candidate, and the top digit needs no mask (sign 0)
            weight = ones
            index = hi if g == 1 else torch.add(hi.view(-1, g), offsets, out=digits.view(-1, g)).view(-1)
        else:
            weight = torch.eq(higher, prefix >> (s + DIGIT_BITS), out=src)  # 1 for a candidate, 0 otherwise
            index = torch.bitwise_and(hi, BINS - 1, out=digits)
            if g > 1:
                index.view(-1, g).add_(offsets)
        hist = torch.zeros(g * BINS, dtype=key.dtype, device=key.device).index_add_(0, index, weight)
        counts = hist.view(g, BINS).sum(0)  # int64
        at_or_above = counts.flip(0).cumsum(0).flip(0)  # C(d)
        digit = (at_or_above >= rank).sum() - 1  # C(0) = #candidates ≥ rank always
        rank = rank - torch.where(at_or_above < rank, at_or_above, 0).amax()  # − C(d* + 1) (0 when d* = 255)
        prefix = prefix | (digit << s)
        higher = hi
    return prefix, rank


def kth_largest(x: torch.Tensor, K: int, *, groups: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(τ, n_ties): τ = the exact K-th largest entry of the flattened ``x``, entries ≤ 0 counting as 0, and n_ties =
    how many entries equal to τ are in the top K (K − n_ties entries are > τ).

    τ is a 0-d float32 tensor (float64 for float64 ``x``; bf16 and fp16 are upcast, exactly), n_ties a 0-d int64
    tensor, both on x's device, computed without a host sync. K ≥ numel is K = numel (keep everything: τ = the
    smallest entry). NaN ranks above +inf, as in ``torch.topk``. ``groups``: sub-histograms (default by device).
    """
    key = _keys(x)
    tau_key, n_ties = _select(key, K, groups)
    fdt = torch.float64 if key.dtype == torch.int64 else torch.float32
    return tau_key.to(key.dtype).view(fdt), n_ties


def topk_mask_flat(x: torch.Tensor, K: int, *, groups: int | None = None) -> torch.Tensor:
    """The bool mask (x's shape) of exactly min(K, numel) entries of x: every entry > τ = ``kth_largest(x, K)``, then
    the first n_ties entries equal to τ in flattened (row-major) order. Entries ≤ 0 count as 0 (so, when fewer than K
    entries are positive, the first zeros, −0.0 and negatives in index order fill the rest). No host sync."""
    n = x.numel()
    if K < 0:
        raise ValueError(f"topk_mask_flat needs K ≥ 0, got {K}")
    if K >= n:
        return torch.ones(x.shape, dtype=torch.bool, device=x.device)
    if K == 0:
        return torch.zeros(x.shape, dtype=torch.bool, device=x.device)
    key = _keys(x)
    tau_key, n_ties = _select(key, K, groups)
    tied = key == tau_key
    rank = torch.cumsum(tied, 0, dtype=torch.int32 if n < 2**31 else torch.int64)  # 1, 2, … over the tied entries
    return ((key > tau_key) | (tied & (rank <= n_ties))).view(x.shape)
