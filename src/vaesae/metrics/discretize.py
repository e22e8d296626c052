"""Equal-width histogram discretization, exactly as disentanglement_lib's ``_histogram_discretize``.

For every column ``z = x[:, i]``::

    edges   = np.histogram(z, n_bins)[1]          # n_bins + 1 edges over [min z, max z]
    code[n] = np.digitize(z[n], edges[:-1])       # in 1..n_bins

``np.digitize`` with increasing bins counts the edges that are ``<= z[n]``, so
``code = #{j < n_bins : edges[j] <= z[n]}``: the minimum lands in bin 1 and the maximum in bin ``n_bins``
(np.histogram's last bin is closed).  A constant column has its range widened to ``[c - 0.5, c + 0.5]`` by
np.histogram and lands entirely in one bin (``n_bins // 2 + 1``).

The edges are computed per column with the arithmetic of ``np.linspace`` (the routine np.histogram calls) in
np.histogram's own bin dtype (the input's float dtype; float64 for integer input), so every code agrees with the
per-column numpy call to the bit; the codes are then found by an arithmetic guess corrected against those edges, which
vectorizes over columns.  ``histogram_edges`` is shared with the neuron specialization metric (whose torch
digitization mirrors ``digitize_codes``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["discretize", "histogram_edges", "digitize_codes", "bin_dtype"]


def bin_dtype(dtype) -> np.dtype:
    """The dtype np.histogram computes its edges in for data of ``dtype`` (integers and bools: float64)."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.floating):
        return dtype
    return np.dtype(np.float64)


def histogram_edges(lo, hi, n_bins: int, dtype=None) -> np.ndarray:
    """Edges ``np.histogram(z, n_bins)[1]`` for columns whose minimum is ``lo`` and maximum ``hi`` -> (K, n_bins + 1).

    ``dtype`` is the data dtype (default: ``lo``'s).  Mirrors ``np.histogram``'s ``_get_outer_edges`` (equal ends are
    widened by 0.5 each side) and ``np.linspace(lo, hi, n_bins + 1)`` (``i * step + lo`` with ``step = (hi - lo) / n``,
    the denormal fallback ``(i / n) * (hi - lo) + lo`` when ``step == 0``, and the last edge set to ``hi``), elementwise
    in the bin dtype.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    lo = np.atleast_1d(np.asarray(lo))
    hi = np.atleast_1d(np.asarray(hi))
    dt = bin_dtype(lo.dtype if dtype is None else dtype)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError("autodetected range is not finite (NaN or inf in the data)")
    lo = lo.astype(dt, copy=True)
    hi = hi.astype(dt, copy=True)
    equal = lo == hi
    if equal.any():
        lo[equal] = lo[equal] - dt.type(0.5)
        hi[equal] = hi[equal] + dt.type(0.5)
    delta = np.subtract(hi, lo, dtype=dt)
    step = delta / dt.type(n_bins)
    i = np.arange(n_bins + 1, dtype=dt)
    edges = i[None, :] * step[:, None]
    tiny = step == 0
    if tiny.any():  # np.linspace's gh-5437 branch for denormal ranges
        edges[tiny] = (i / dt.type(n_bins))[None, :] * delta[tiny, None]
    edges += lo[:, None]
    edges[:, -1] = hi
    return edges


def digitize_codes(values: np.ndarray, rows: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.digitize(values[e], edges[rows[e], :-1])`` for every entry ``e`` (1-D inputs) -> int64 codes in 1..n_bins.

    ``edges`` is (K, n_bins + 1) float64 (exact copies of the bin-dtype edges) and every value lies in its row's
    [first, last] edge.  A floating-point guess ``floor((v - lo) / (hi - lo) * n_bins)`` is corrected by comparing
    against the real edges until ``edges[g] <= v < edges[g + 1]`` (or ``g = n_bins - 1``), so the result is exact.
    """
    n_bins = edges.shape[1] - 1
    values = np.asarray(values, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    lo = edges[:, 0]
    scale = n_bins / (edges[:, -1] - lo)
    guess = np.floor((values - lo[rows]) * scale[rows])
    np.clip(guess, 0, n_bins - 1, out=guess)
    g = guess.astype(np.int64)
    flat = edges.ravel()
    base = rows * (n_bins + 1)
    active = np.arange(g.size)
    while active.size:
        ga, va, ba = g[active], values[active], base[active]
        up = (ga < n_bins - 1) & (flat[ba + np.minimum(ga + 1, n_bins)] <= va)
        down = (ga > 0) & (flat[ba + ga] > va)
        moved = up | down
        g[active] = ga + up - down
        active = active[moved]
    return g + 1


def discretize(x: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """Per-column equal-width discretization of ``x`` (N, D) into codes 1..n_bins -> int64 (N, D).

    ``out[:, i] == np.digitize(x[:, i], np.histogram(x[:, i], n_bins)[1][:-1])`` exactly (disentanglement_lib's
    histogram discretizer, transposed to samples-first).
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"discretize expects a 2-D array (N, D), got shape {x.shape}")
    n, d = x.shape
    if n == 0 or d == 0:
        return np.zeros((n, d), dtype=np.int64)
    edges = histogram_edges(x.min(axis=0), x.max(axis=0), n_bins, dtype=x.dtype).astype(np.float64)
    rows = np.broadcast_to(np.arange(d, dtype=np.int64), (n, d)).ravel()
    codes = digitize_codes(x.astype(np.float64, copy=False).ravel(), rows, edges)
    return codes.reshape(n, d)
