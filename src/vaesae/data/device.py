"""The rows of the dataset a job uses, on the training device as uint8, with the split indices; batches are indexed on
the device.

Shared by training (``vaesae.train.loop``, ``part="train"``) and the final evaluation (``vaesae.cli.evaluate``,
``part="eval"``). Only the rows the job uses are read from the file (``vaesae.data.canonical.take_rows``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from vaesae.data.canonical import open_dataset
from vaesae.data.splits import make_splits

PARTS = ("train", "eval")  # train: the train split + the evaluation set; eval: the evaluation set only


def _nchw(x: torch.Tensor) -> torch.Tensor:
    """(B, 64, 64, C) -> (B, C, 64, 64) contiguous. C = 1: a free view, with strides (4096, 1, 64, 1) as the old
    whole-file ``permute(0, 3, 1, 2).contiguous()`` had (contiguous: the size-1 dimension's stride does not count)."""
    return x.permute(0, 3, 1, 2).contiguous()


@dataclass
class DeviceData:
    """The rows of the dataset a job uses, on the device, with the split indices into them.

    ``images`` (R, 64, 64, C) uint8 holds the rows read, in file order and in the file's layout (NHWC; it held every
    image in NCHW before issue 22); ``rows`` (host int64) is each one's row in the file. ``train_idx`` and
    ``eval_idx`` index ``images`` (not the file): ``train_idx[i]`` is the i-th row of the seed's train split, so a
    permutation of it draws the same images as before. ``batch(idx)`` gives float32 NCHW in [0, 1].
    """

    name: str
    images: torch.Tensor  # (R, 64, 64, C) uint8, NHWC: the rows kept
    factors: np.ndarray  # (R, F) int64, host: the rows kept
    train_idx: torch.Tensor  # into images; empty for part "eval"
    eval_idx: torch.Tensor  # into images
    factor_names: list[str] = field(default_factory=list)
    source: str = ""  # canonical file attribute: procedural | download | path
    description: str = ""
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (R,) file row of each image
    part: str = "train"

    @property
    def channels(self) -> int:
        return self.images.shape[3]

    @property
    def n_train(self) -> int:
        return len(self.train_idx)

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        """Images ``idx`` (into ``images``) as float32 (B, C, 64, 64) contiguous in [0, 1], gathered on the device:
        the same values and strides as the old ``images_nchw[idx].float().div_(255.0)``. The strides matter: for
        C = 1 they also read as channels-last, and a convolution's result differs in the last bits without them."""
        return _nchw(self.images[idx]).float().div_(255.0)

    def eval_images(self) -> torch.Tensor:
        """The evaluation set as uint8 (N_eval, C, 64, 64) contiguous (for part "eval" and C = 1, a view of
        ``images``)."""
        if len(self.eval_idx) == len(self.images):  # sorted distinct indices: all of them, in order
            return _nchw(self.images)
        return _nchw(self.images[self.eval_idx])

    def eval_factors(self) -> np.ndarray:
        return self.factors[self.eval_idx.cpu().numpy()]


def _streams(device: torch.device) -> bool:
    """Whether images go to ``device`` block by block (no host copy of them) rather than through one host array."""
    return device.type != "cpu"


def _read_images(f, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    """Rows ``rows`` of the images, (R, 64, 64, C) uint8 on ``device``. On the CPU the array read is the tensor;
    elsewhere each block is copied to the device as it is read, so host memory stays at a few blocks."""
    if not _streams(device):
        return torch.from_numpy(f.read_rows("images", rows))
    images = torch.empty((len(rows),) + f.shape("images")[1:], dtype=torch.uint8, device=device)
    for lo, hi, block in f.iter_rows("images", rows):
        images[lo:hi].copy_(torch.from_numpy(block))  # synchronous from pageable memory: the buffer can be reused
    return images


def load_device_data(path: str, seed: int, *, val_fraction: float, shapes3d_n_val: int, n_eval: int,
                     device: torch.device, part: str = "train") -> DeviceData:  # fmt: skip
    """Split a canonical dataset file for ``seed`` (``vaesae.data.splits``), read the rows of ``part`` (``train``:
    the train split and the evaluation set; ``eval``: the evaluation set) and move them to ``device``.

    The file's layout is checked as by ``read_dataset``; errors name the file and the problem.
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    device = torch.device(device)
    with open_dataset(path) as f:
        train, _, evals = make_splits(
            f.name, len(f), seed=seed, val_fraction=val_fraction, shapes3d_n_val=shapes3d_n_val, n_eval=n_eval
        )
        if part == "eval":
            train = train[:0]
        rows = np.union1d(train, evals)  # sorted; train and eval are disjoint
        factors = f.read_rows("factors", rows)
        images = _read_images(f, rows, device)
        name, factor_names, source, description = f.name, f.factor_names, f.source, f.description
    return DeviceData(
        name,
        images,
        factors,
        torch.as_tensor(np.searchsorted(rows, train), device=device),
        torch.as_tensor(np.searchsorted(rows, evals), device=device),
        list(factor_names),
        source,
        description,
        rows,
        part,
    )
