"""Disentanglement, Completeness and Informativeness (Eastwood & Williams 2018), as disentanglement_lib's ``dci.py``
computes them.

With z the encoder means split into train (N_tr, L) / test (N_te, L) parts and v the integer factor classes, one
classifier per factor j on all L latents (disentanglement_lib: ``GradientBoostingClassifier()``)::

    R[:, j]      = |clf_j.feature_importances_|                           importance matrix R (L, F)
    info_train   = mean_j accuracy of clf_j on train,  info_test the same on test

    H_b(p)       = -sum_k p_k log p_k / log b,   p = (x + 1e-11) / sum(x + 1e-11)     (scipy.stats.entropy(x + 1e-11))
    D_i          = 1 - H_F(R[i, :])              rho_i = sum_j R[i, j] / sum R
    disentanglement = sum_i rho_i D_i
    C_j          = 1 - H_L(R[:, j])              w_j   = sum_i R[i, j] / sum R
    completeness = sum_j w_j C_j

Tree ensembles normalize ``feature_importances_`` to sum 1 (or return all zeros when no tree splits), so every used
column of R sums to 1 and ``w_j = 1/F``: completeness is the plain mean over factors of ``1 - H_L(R[:, j])``.
The 1e-11 added before normalizing is disentanglement_lib's; it only matters for all-zero rows/columns, which it turns
into the uniform distribution (score 0) and which carry zero weight anyway.

Departures from disentanglement_lib, none of which changes the value where disentanglement_lib gives one:

* A factor taking a single value in the training part cannot be fitted (the classifiers raise); it is excluded (F
  counts the remaining factors, its importance column is NaN and it is left out of the accuracies).  If no factor is
  left a ValueError is raised.
* With zero total importance (no classifier found a split, e.g. all latents constant) both scores are exactly 0 (the
  formula gives 0 up to rounding).  With a single usable factor (F = 1) the entropy base is 1 and the formula reads
  0/0; every code then trivially serves one factor and disentanglement is 1 (likewise completeness with L = 1).
* The classifiers get ``random_state=seed``, which with the defaults only fixes how ties between equally good splits
  are broken, so repeated runs agree.  Non-finite importances (0/0 in scikit-learn when every split has zero gain) are
  read as 0.

Gradient boosting grows one depth-3 tree per class and stage (100 stages), single-threaded: on 8,000 training samples
of 10 latents with dSprites' factors (3, 6, 40, 32, 32 classes) it takes about 4 minutes on one CPU core.
``model="rf"`` swaps in ``RandomForestClassifier(n_estimators=50, random_state=seed, n_jobs=1)``, about 30 times
faster there.  Its scores are not disentanglement_lib's and not comparable with them: the forest considers sqrt(L)
random latents per split and grows its trees to purity, so it credits latents that carry nothing, and D and C come out
markedly lower (0.19 / 0.18 against 0.56 / 0.51 on that benchmark; 0.6 against 1.0 for latents that copy the factors).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from joblib import Parallel, delayed
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

from .sap import check_train_test

__all__ = ["DciResult", "dci", "dci_scores", "make_dci_model"]

_SMOOTH = 1e-11  # disentanglement_lib adds this to the importances before taking entropies
MODELS = ("gbt", "rf")


class DciResult(NamedTuple):
    disentanglement: float
    completeness: float
    informativeness_train: float  # mean training accuracy over the usable factors
    informativeness_test: float  # mean test accuracy over the usable factors
    importance: np.ndarray  # (L, F) non-negative feature importances; NaN columns for excluded factors


def make_dci_model(model: str = "gbt", seed: int = 0):
    """The unfitted classifier ``dci`` fits per factor: ``"gbt"`` (disentanglement_lib's) or ``"rf"``."""
    if model == "gbt":
        return GradientBoostingClassifier(random_state=seed)
    if model == "rf":
        return RandomForestClassifier(n_estimators=50, random_state=seed, n_jobs=1)
    raise ValueError(f"model must be one of {MODELS}, got {model!r}")


def _normalized_entropy(x: np.ndarray, base: int) -> np.ndarray:
    """``scipy.stats.entropy(x + 1e-11, base=base)`` of each row of the non-negative ``x`` (K, M) -> (K,).

    ``base == 1`` (a single outcome) gives entropy 0.
    """
    if base <= 1:
        return np.zeros(x.shape[0])
    p = x + _SMOOTH
    p = p / p.sum(axis=1, keepdims=True)
    return -np.sum(p * np.log(p), axis=1) / np.log(base)


def dci_scores(importance: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) of a non-negative importance matrix (L codes, F factors), as above."""
    r = np.asarray(importance, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"importance must be 2-D (L, F), got shape {r.shape}")
    if np.any(r < 0) or not np.all(np.isfinite(r)):
        raise ValueError("importance must be finite and non-negative")
    total = r.sum()
    if r.size == 0 or total == 0.0:
        return 0.0, 0.0
    n_codes, n_factors = r.shape
    per_code = 1.0 - _normalized_entropy(r, n_factors)
    per_factor = 1.0 - _normalized_entropy(r.T, n_codes)
    disentanglement = float(np.sum(per_code * (r.sum(axis=1) / total)))
    completeness = float(np.sum(per_factor * (r.sum(axis=0) / total)))
    return disentanglement, completeness


def dci(
    means_train: np.ndarray,
    factors_train: np.ndarray,
    means_test: np.ndarray,
    factors_test: np.ndarray,
    *,
    model: str = "gbt",
    seed: int = 0,
    n_jobs: int = 1,
) -> DciResult:
    """DCI of the means (N, L) with respect to discrete ``factors`` (N, F): one classifier per factor on all latents,
    fit on train, informativeness also scored on test.  Needs a factor with >= 2 classes in ``factors_train``."""
    z_tr, v_tr, z_te, v_te = check_train_test(means_train, factors_train, means_test, factors_test)
    make_dci_model(model, seed)  # validate the name before any fitting
    n_latents, n_factors = z_tr.shape[1], v_tr.shape[1]
    valid = np.array([np.unique(v_tr[:, j]).size >= 2 for j in range(n_factors)], dtype=bool)
    if not valid.any():
        raise ValueError("DCI is undefined: every factor takes a single value in the training set")
    importance = np.full((n_latents, n_factors), np.nan)

    def fit_factor(j):  # factors are independent fits: run them in parallel (identical results)
        clf = make_dci_model(model, seed)
        clf.fit(z_tr, v_tr[:, j])
        imp = np.nan_to_num(np.abs(clf.feature_importances_), nan=0.0, posinf=0.0)
        return j, imp, np.mean(clf.predict(z_tr) == v_tr[:, j]), np.mean(clf.predict(z_te) == v_te[:, j])

    fits = Parallel(n_jobs=n_jobs)(delayed(fit_factor)(j) for j in np.flatnonzero(valid))
    acc_train, acc_test = [], []
    for j, imp, a_tr, a_te in fits:
        importance[:, j] = imp
        acc_train.append(a_tr)
        acc_test.append(a_te)
    disentanglement, completeness = dci_scores(importance[:, valid])
    return DciResult(disentanglement, completeness, float(np.mean(acc_train)), float(np.mean(acc_test)), importance)
