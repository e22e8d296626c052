"""Separated Attribute Predictability (Kumar et al. 2018), as disentanglement_lib's ``sap_score.py`` computes it for
discrete factors.

With z the encoder means split into a train part (N_tr, L) and a test part (N_te, L), and v the integer factor classes
(N_tr, F) / (N_te, F)::

    clf_ij    = LinearSVC(C=0.01, class_weight="balanced").fit(z_train[:, [i]], v_train[:, j])   # latent i alone
    S[i, j]   = mean_n( clf_ij.predict(z_test[n, [i]]) == v_test[n, j] )                          # test accuracy
    gap_j     = S_(1)j - S_(2)j        S_(1)j >= S_(2)j the two largest entries of column j
    SAP       = mean_{j : v_train[:, j] takes >= 2 values} gap_j

Departures from disentanglement_lib, none of which changes the value where disentanglement_lib gives one:

* A factor taking a single value in the training part cannot be fitted (LinearSVC raises); it is excluded from the
  mean and its column of ``matrix`` is NaN.  If no factor is left a ValueError is raised.
* A latent that is exactly constant on the training part leaves the SVC nothing but its (regularized) intercepts, which
  balanced class weights make equal for every class in exact arithmetic, so liblinear's pick is decided by rounding:
  with more than two classes it is the majority class in practice, with two classes either one.  Such a latent
  predicts the majority training class of the factor (the smallest label among equal counts), deterministically.
* The SVC is solved in the primal (``dual=False``): the same strictly convex problem as disentanglement_lib's
  then-default dual solver, the one scikit-learn >= 1.5 picks itself (``dual="auto"``) for a single feature, solved to
  tolerance rather than stopped at ``max_iter`` (and about twice as fast).

``split_train_test`` gives the random train/test index split the pipeline applies to its single evaluation set
(disentanglement_lib samples separate train and test sets instead).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn.svm import LinearSVC

__all__ = ["SapResult", "sap", "split_train_test", "check_train_test"]


class SapResult(NamedTuple):
    score: float  # mean top-two gap over the factors with >= 2 training classes
    matrix: np.ndarray  # (L, F) test accuracy of latent i predicting factor j; NaN columns for excluded factors


def split_train_test(n: int, train_fraction: float = 0.8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random split of ``range(n)`` into (train, test) int64 index arrays, each sorted ascending.

    ``round(n * train_fraction)`` samples go to train, chosen by ``np.random.default_rng(seed).permutation(n)``; both
    parts must be non-empty.
    """
    n = int(n)
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie strictly between 0 and 1, got {train_fraction}")
    n_train = int(round(n * train_fraction))
    if n_train < 1 or n_train > n - 1:
        raise ValueError(f"cannot split {n} samples with train_fraction={train_fraction} into two non-empty parts")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[:n_train]).astype(np.int64), np.sort(perm[n_train:]).astype(np.int64)


def check_train_test(means_train, factors_train, means_test, factors_test) -> tuple[np.ndarray, ...]:
    """Validate the four arrays (2-D, matching samples, matching latent and factor counts) and return them."""
    arrays = [np.asarray(a) for a in (means_train, factors_train, means_test, factors_test)]
    names = ("means_train", "factors_train", "means_test", "factors_test")
    for name, a in zip(names, arrays):
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D (N, D), got shape {a.shape}")
    z_tr, v_tr, z_te, v_te = arrays
    for z, v, part in ((z_tr, v_tr, "train"), (z_te, v_te, "test")):
        if z.shape[0] != v.shape[0]:
            raise ValueError(f"{part}: means has {z.shape[0]} samples but factors has {v.shape[0]}")
        if z.shape[0] == 0:
            raise ValueError(f"{part}: no samples")
    if z_tr.shape[1] != z_te.shape[1]:
        raise ValueError(f"train has {z_tr.shape[1]} latents but test has {z_te.shape[1]}")
    if v_tr.shape[1] != v_te.shape[1]:
        raise ValueError(f"train has {v_tr.shape[1]} factors but test has {v_te.shape[1]}")
    return z_tr, v_tr, z_te, v_te


def _latent_accuracy(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray, C: float):
    """Test accuracy of a LinearSVC on the single latent ``z_train`` (N,) predicting ``y_train`` (>= 2 classes)."""
    if np.all(z_train == z_train[0]):  # constant latent: only an intercept, predict the majority class
        classes, counts = np.unique(y_train, return_counts=True)
        return float(np.mean(y_test == classes[np.argmax(counts)]))
    clf = LinearSVC(C=C, class_weight="balanced", dual=False)
    clf.fit(z_train[:, None], y_train)
    return float(np.mean(clf.predict(z_test[:, None]) == y_test))


def sap(
    means_train: np.ndarray,
    factors_train: np.ndarray,
    means_test: np.ndarray,
    factors_test: np.ndarray,
    *,
    C: float = 0.01,
) -> SapResult:
    """SAP of the means (N, L) with respect to discrete ``factors`` (N, F), classifiers fit on train, scored on test.

    Needs L >= 2 and at least one factor with >= 2 classes in ``factors_train``.
    """
    z_tr, v_tr, z_te, v_te = check_train_test(means_train, factors_train, means_test, factors_test)
    n_latents, n_factors = z_tr.shape[1], v_tr.shape[1]
    if n_latents < 2:
        raise ValueError(f"SAP needs at least 2 latent dimensions, got {n_latents}")
    valid = np.array([np.unique(v_tr[:, j]).size >= 2 for j in range(n_factors)], dtype=bool)
    if not valid.any():
        raise ValueError("SAP is undefined: every factor takes a single value in the training set")
    z_tr = z_tr.astype(np.float64, copy=False)
    z_te = z_te.astype(np.float64, copy=False)
    matrix = np.full((n_latents, n_factors), np.nan)
    for j in np.flatnonzero(valid):
        for i in range(n_latents):
            matrix[i, j] = _latent_accuracy(z_tr[:, i], v_tr[:, j], z_te[:, i], v_te[:, j], C)
    top = -np.sort(-matrix[:, valid], axis=0)  # descending per factor
    return SapResult(float(np.mean(top[0] - top[1])), matrix)
