"""Discrete mutual information between codes and factors, as ``sklearn.metrics.mutual_info_score``.

For two label vectors a, b of length N with joint counts n_ab and marginals n_a, n_b::

    I(a; b) = sum_{a,b: n_ab > 0} (n_ab / N) * (log n_ab - log N)  +  (n_ab / N) * (log N + log N - log(n_a * n_b))
            = sum_{a,b} p(a, b) log[ p(a, b) / (p(a) p(b)) ]     (nats)

term by term as sklearn computes it (terms below float64 eps set to 0, the sum clipped at 0, and exactly 0 when either
vector takes a single value).  ``factor_entropy`` is ``I(f; f) = sum_k (n_k / N) (log N - log n_k) = H(f)``.

The joint counts of all (code column, factor) pairs come from one ``np.bincount`` per factor over combined indices
``(column * B + code) * K + class``, so there is no Python loop over pairs.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mutual_info_matrix", "factor_entropy", "mi_from_joint", "relabel_columns"]

_EPS = np.finfo(np.float64).eps


def relabel_columns(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map each column of an integer (N, C) array onto 0..K_c-1 (sorted order) -> (int64 (N, C), K (C,))."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"expected a 2-D label array (N, C), got shape {labels.shape}")
    out = np.empty(labels.shape, dtype=np.int64)
    sizes = np.empty(labels.shape[1], dtype=np.int64)
    for c in range(labels.shape[1]):  # columns are few (latents, factors)
        uniq, inv = np.unique(labels[:, c], return_inverse=True)
        out[:, c] = inv.reshape(-1)
        sizes[c] = uniq.size
    return out, sizes


def mi_from_joint(joint: np.ndarray, n_samples: int) -> np.ndarray:
    """Mutual information (nats) of each contingency table in ``joint`` (..., A, B) of counts summing to N -> (...).

    sklearn's ``mutual_info_score`` formula on the nonzero cells, vectorized over the leading axes.
    """
    joint = np.asarray(joint)
    lead = joint.shape[:-2]
    a_size, b_size = joint.shape[-2:]
    flat = joint.reshape(-1, a_size, b_size)
    n_tables = flat.shape[0]
    if n_tables == 0 or n_samples == 0:
        return np.zeros(lead, dtype=np.float64)
    pi = flat.sum(axis=2).astype(np.float64)  # (T, A)
    pj = flat.sum(axis=1).astype(np.float64)  # (T, B)
    t, a, b = np.nonzero(flat)
    nz = flat[t, a, b].astype(np.float64)
    n = float(n_samples)
    log_n = np.log(n)
    c_nm = nz / n
    log_outer = -np.log(pi[t, a] * pj[t, b]) + log_n + log_n
    terms = c_nm * (np.log(nz) - log_n) + c_nm * log_outer
    terms[np.abs(terms) < _EPS] = 0.0
    mi = np.bincount(t, weights=terms, minlength=n_tables)
    single = ((pi > 0).sum(axis=1) <= 1) | ((pj > 0).sum(axis=1) <= 1)
    mi[single] = 0.0
    np.clip(mi, 0.0, None, out=mi)
    return mi.reshape(lead)


def check_paired(x, factors, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (N, D) and ``factors`` (N, F) as arrays; ValueError unless both are 2-D with the same N."""
    x, factors = np.asarray(x), np.asarray(factors)
    if x.ndim != 2 or factors.ndim != 2:
        raise ValueError(f"{name} and factors must be 2-D, got {x.shape} and {factors.shape}")
    if x.shape[0] != factors.shape[0]:
        raise ValueError(f"{name} has {x.shape[0]} samples but factors has {factors.shape[0]}")
    return x, factors


def mutual_info_matrix(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``out[d, f] = sklearn.metrics.mutual_info_score(codes[:, d], factors[:, f])`` (nats) -> float64 (D, F)."""
    codes, factors = check_paired(codes, factors, "codes")
    n, d = codes.shape
    out = np.zeros((d, factors.shape[1]), dtype=np.float64)
    if n == 0 or d == 0:
        return out
    c, c_sizes = relabel_columns(codes)
    fk, k_sizes = relabel_columns(factors)
    n_codes = int(c_sizes.max())
    base = (c + np.arange(d, dtype=np.int64) * n_codes).ravel()  # (N*D,) index of (column, code)
    for f, k in enumerate(k_sizes):
        k = int(k)
        idx = base * k + np.repeat(fk[:, f], d)
        joint = np.bincount(idx, minlength=d * n_codes * k).reshape(d, n_codes, k)
        out[:, f] = mi_from_joint(joint, n)
    return out


def factor_entropy(factors: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each factor column, ``mutual_info_score(f, f) = sum_k (n_k/N)(log N - log n_k)`` -> (F,)."""
    factors = np.asarray(factors)
    if factors.ndim != 2:
        raise ValueError(f"factors must be 2-D (N, F), got shape {factors.shape}")
    n = factors.shape[0]
    out = np.zeros(factors.shape[1], dtype=np.float64)
    if n == 0:
        return out
    fk, k_sizes = relabel_columns(factors)
    log_n = np.log(float(n))
    for f, k in enumerate(k_sizes):
        if k <= 1:
            continue
        counts = np.bincount(fk[:, f], minlength=int(k)).astype(np.float64)
        terms = (counts / n) * (log_n - np.log(counts))
        terms[np.abs(terms) < _EPS] = 0.0
        out[f] = max(terms.sum(), 0.0)
    return out
