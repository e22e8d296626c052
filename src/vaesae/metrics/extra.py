"""SAP and DCI of one evaluation set, split into train / test parts (the pipeline has no separate test set).

::

    train, test = split_train_test(N, train_fraction, seed)
    sap  = sap(z[train], v[train], z[test], v[test]).score
    dci  = dci(z[train], v[train], z[test], v[test], model=dci_model, seed=seed)

``dci_informativeness`` is the test accuracy (``DciResult.informativeness_test``).
"""

from __future__ import annotations

import numpy as np

from .dci import DciResult, dci
from .mutual_info import check_paired
from .sap import SapResult, sap, split_train_test

__all__ = ["DciResult", "SapResult", "dci", "sap", "sap_dci", "split_train_test"]


def sap_dci(
    means: np.ndarray,
    factors: np.ndarray,
    *,
    train_fraction: float = 0.8,
    seed: int = 0,
    dci_model: str = "gbt",
    n_jobs: int = 1,
) -> dict[str, float]:
    """SAP and DCI of the means (N, L) with respect to integer ``factors`` (N, F) -> dict of floats with keys
    ``sap``, ``dci_disentanglement``, ``dci_completeness``, ``dci_informativeness``."""
    means, factors = check_paired(means, factors, "means")
    train, test = split_train_test(means.shape[0], train_fraction, seed)
    parts = (means[train], factors[train], means[test], factors[test])
    sap_result = sap(*parts)
    dci_result = dci(*parts, model=dci_model, seed=seed, n_jobs=n_jobs)
    return {
        "sap": sap_result.score,
        "dci_disentanglement": dci_result.disentanglement,
        "dci_completeness": dci_result.completeness,
        "dci_informativeness": dci_result.informativeness_test,
    }
