"""The canonical dataset file (docs/FORMATS.md): one HDF5 layout for every source.

    images         uint8   (N, 64, 64, C)
    factors        int64   (N, F)    class indices
    factor_values  float64 (N, F)
    index          int64   (N,)      row in the full factor grid (real dataset order)
    attrs: name, factor_names, factor_sizes, source, description, n_total, checksum
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np

from vaesae.io import atomic_path

KEYS = ("images", "factors", "factor_values", "index")
ATTRS = ("name", "factor_names", "factor_sizes", "source", "description", "n_total")


class DatasetError(ValueError):
    """A dataset file or array that does not have the canonical layout."""


@dataclass
class Dataset:
    name: str
    images: np.ndarray
    factors: np.ndarray
    factor_values: np.ndarray
    index: np.ndarray
    factor_names: list[str]
    factor_sizes: list[int]
    source: str
    description: str
    n_total: int = 0
    checksum: str = ""


def _check_arrays(images, factors, factor_values, index, factor_sizes, where: str) -> None:
    n = len(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:3] != (64, 64) or images.shape[3] not in (1, 3):
        raise DatasetError(f"{where}: 'images' must be uint8 (N, 64, 64, 1|3), got {images.dtype} {images.shape}")
    if factors.ndim != 2 or len(factors) != n or not np.issubdtype(factors.dtype, np.integer):
        raise DatasetError(f"{where}: 'factors' must be integer (N={n}, F), got {factors.dtype} {factors.shape}")
    if factor_values.shape != factors.shape or not np.issubdtype(factor_values.dtype, np.number):
        raise DatasetError(
            f"{where}: 'factor_values' must be numeric with the factors' shape {factors.shape}, "
            f"got {factor_values.dtype} {factor_values.shape}"
        )
    if index.shape != (n,) or not np.issubdtype(index.dtype, np.integer):
        raise DatasetError(f"{where}: 'index' must be integer with shape ({n},), got {index.dtype} {index.shape}")
    if len(factor_sizes) != factors.shape[1]:
        raise DatasetError(f"{where}: {len(factor_sizes)} factor_sizes for {factors.shape[1]} factors")
    if n and (factors.min() < 0 or np.any(factors.max(0) >= np.asarray(factor_sizes))):
        raise DatasetError(f"{where}: 'factors' has class indices outside factor_sizes {list(factor_sizes)}")


def write_dataset_chunked(
    path,
    *,
    n: int,
    channels: int,
    chunks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    name: str,
    factor_names: list[str],
    factor_sizes: list[int],
    source: str,
    description: str,
    n_total: int,
    checksum: str = "",
) -> None:
    """Stream (images, factors, factor_values, index) chunks into the canonical file; atomic, bounded memory."""
    n_f = len(factor_names)
    if len(factor_sizes) != n_f:
        raise DatasetError(f"{path}: {n_f} factor_names but {len(factor_sizes)} factor_sizes")
    if channels not in (1, 3):
        raise DatasetError(f"{path}: 'images' must be uint8 (N, 64, 64, 1|3), got {channels} channels")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        images = f.create_dataset("images", (n, 64, 64, channels), np.uint8, chunks=(min(max(n, 1), 256), 64, 64, channels))
        factors = f.create_dataset("factors", (n, n_f), np.int64)
        values = f.create_dataset("factor_values", (n, n_f), np.float64)
        index = f.create_dataset("index", (n,), np.int64)
        pos = 0
        for img, fac, val, idx in chunks:
            img, fac = np.asarray(img), np.asarray(fac)
            _check_arrays(img, fac, np.asarray(val), np.asarray(idx), factor_sizes, str(path))
            end = pos + len(img)
            if end > n:
                raise DatasetError(f"{path}: chunks hold more than the declared {n} images")
            images[pos:end], factors[pos:end], values[pos:end], index[pos:end] = img, fac, val, idx
            pos = end
        if pos != n:
            raise DatasetError(f"{path}: chunks held {pos} images, {n} declared")
        f.attrs.update(
            name=name,
            factor_names=list(factor_names),
            factor_sizes=list(map(int, factor_sizes)),
            source=source,
            description=description,
            n_total=int(n_total),
            checksum=checksum,
        )


def read_dataset(path) -> Dataset:
    """Load a canonical file into memory, checking its layout; errors name the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset file {path} does not exist")
    if not h5py.is_hdf5(path):
        raise DatasetError(f"dataset file {path} is not an HDF5 file (truncated or wrong format?)")
    with h5py.File(path, "r") as f:
        for key in KEYS:
            if key not in f:
                raise DatasetError(f"dataset file {path} has no '{key}' array")
        for key in ATTRS:
            if key not in f.attrs:
                raise DatasetError(f"dataset file {path} has no '{key}' attribute")
        for key, dtype in (("factors", np.int64), ("factor_values", np.float64), ("index", np.int64)):
            if f[key].dtype != dtype:
                raise DatasetError(f"dataset file {path}: '{key}' must be {np.dtype(dtype)}, got {f[key].dtype}")
        ds = Dataset(
            name=str(f.attrs["name"]),
            images=f["images"][:],
            factors=f["factors"][:],
            factor_values=f["factor_values"][:],
            index=f["index"][:],
            factor_names=[str(s) for s in f.attrs["factor_names"]],
            factor_sizes=[int(s) for s in f.attrs["factor_sizes"]],
            source=str(f.attrs["source"]),
            description=str(f.attrs["description"]),
            n_total=int(f.attrs["n_total"]),
            checksum=str(f.attrs.get("checksum", "")),
        )
    _check_arrays(ds.images, ds.factors, ds.factor_values, ds.index, ds.factor_sizes, f"dataset file {path}")
    return ds
