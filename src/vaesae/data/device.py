"""The dataset on the training device: uint8 images and the split indices, batches indexed on the device.

Shared by training (``vaesae.train.loop``) and the final evaluation (``vaesae.cli.evaluate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from vaesae.data.canonical import read_dataset
from vaesae.data.splits import make_splits


@dataclass
class DeviceData:
    """The whole dataset on the device as uint8, with the split indices; batches are indexed on the device."""

    name: str
    images: torch.Tensor  # (N, C, 64, 64) uint8
    factors: np.ndarray  # (N, F) int64, host
    train_idx: torch.Tensor
    eval_idx: torch.Tensor
    factor_names: list[str] = field(default_factory=list)
    source: str = ""  # canonical file attribute: procedural | download | path
    description: str = ""

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    def eval_images(self) -> torch.Tensor:
        return self.images[self.eval_idx]

    def eval_factors(self) -> np.ndarray:
        return self.factors[self.eval_idx.cpu().numpy()]


def load_device_data(
    path: str, seed: int, *, val_fraction: float, shapes3d_n_val: int, n_eval: int, device: torch.device
) -> DeviceData:
    """Read a canonical dataset file, split it for ``seed`` (``vaesae.data.splits``) and move it to ``device``."""
    ds = read_dataset(path)
    train_idx, _, eval_idx = make_splits(
        ds.name, len(ds.images), seed=seed, val_fraction=val_fraction, shapes3d_n_val=shapes3d_n_val, n_eval=n_eval
    )
    images = torch.from_numpy(ds.images).permute(0, 3, 1, 2).contiguous().to(device)
    return DeviceData(
        ds.name,
        images,
        ds.factors,
        torch.as_tensor(train_idx, device=device),
        torch.as_tensor(eval_idx, device=device),
        list(ds.factor_names),
        ds.source,
        ds.description,
    )
