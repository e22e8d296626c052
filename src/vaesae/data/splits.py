"""Seeded train / validation / evaluation splits (method-notes "Splits").

dSprites: a random 80/20 split (``val_fraction``). Shapes3D: 400,000 / 80,000, i.e. ``shapes3d_n_val / 480000`` of
the images for a subset. The evaluation set is the first ``n_eval`` of the (random) validation indices: fixed per
seed and identical for every epoch, stage and method.
"""

from __future__ import annotations

import numpy as np

SHAPES3D_TOTAL = 480_000


def make_splits(name: str, n: int, *, seed: int, val_fraction: float, shapes3d_n_val: int, n_eval: int):
    """(train_idx, val_idx, eval_idx): sorted int64 row positions; train and val are disjoint."""
    if name == "shapes3d":
        n_val = int(round(n * shapes3d_n_val / SHAPES3D_TOTAL))
    else:
        n_val = int(round(n * val_fraction))
    if n_eval > 0 and n_val == 0:
        raise ValueError(f"{name}: {n} images leave no validation images for the evaluation set")
    perm = np.random.default_rng(seed).permutation(n)
    val = perm[:n_val]
    train = np.sort(perm[n_val:])
    eval_idx = np.sort(val[: min(n_eval, n_val)])
    return train.astype(np.int64), np.sort(val).astype(np.int64), eval_idx.astype(np.int64)
