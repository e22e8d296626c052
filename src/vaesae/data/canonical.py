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
    """The canonical shapes and dtypes, then the factor classes' range."""
    _check_layout(images, factors, factor_values, index, factor_sizes, where)
    _check_classes(factors, factor_sizes, where)


def _check_layout(images, factors, factor_values, index, factor_sizes, where: str) -> None:
    """Shapes and dtypes only: numpy arrays or h5py datasets alike (nothing is read)."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:3] != (64, 64) or images.shape[3] not in (1, 3):
        raise DatasetError(f"{where}: 'images' must be uint8 (N, 64, 64, 1|3), got {images.dtype} {images.shape}")
    n = images.shape[0]
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


def _check_classes(factors: np.ndarray, factor_sizes, where: str) -> None:
    if len(factors) and (factors.min() < 0 or np.any(factors.max(0) >= np.asarray(factor_sizes))):
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


BLOCK_BYTES = 32 << 20  # rows are read in chunk-aligned blocks of about this size


def row_blocks(dset: h5py.Dataset, rows: np.ndarray, out: np.ndarray | None = None):
    """Yield ``(lo, hi, dset[rows[lo:hi]])`` block by block for sorted, distinct row numbers ``rows``.

    The file is read in chunk-aligned blocks of about ``BLOCK_BYTES``, skipping the blocks that hold none of the
    rows, and the chosen rows are copied out of each block: into ``out[lo:hi]`` when ``out`` is given, else into a
    buffer reused by the next block (copy it before). h5py's fancy indexing (``dset[rows]``) selects the same rows
    ~10x slower for the 10,000 evaluation rows and did not finish the ~600,000 training rows in 3 minutes
    (BENCHMARKS.md, "Job start").
    """
    rows = np.asarray(rows, dtype=np.int64)
    n = dset.shape[0]
    if rows.ndim != 1 or (len(rows) and (rows[0] < 0 or rows[-1] >= n or np.any(np.diff(rows) <= 0))):
        raise ValueError(f"rows must be sorted distinct row numbers in 0..{n - 1}")
    if not len(rows):
        return
    row_bytes = dset.dtype.itemsize * int(np.prod(dset.shape[1:], dtype=np.int64))
    chunk = dset.chunks[0] if dset.chunks else 1
    block = min(chunk * max(1, BLOCK_BYTES // max(1, row_bytes * chunk)), n)
    buf = np.empty((block,) + dset.shape[1:], dset.dtype)
    picked = None if out is not None else np.empty_like(buf)
    blocks = np.unique(rows // block)
    bounds = np.searchsorted(rows, np.append(blocks, blocks[-1] + 1) * block)
    for b, lo, hi in zip(blocks.tolist(), bounds[:-1].tolist(), bounds[1:].tolist()):
        start, stop = b * block, min((b + 1) * block, n)
        dest = out[lo:hi] if out is not None else picked[: hi - lo]
        if hi - lo == stop - start:  # every row of the block: read straight into place
            dset.read_direct(dest, np.s_[start:stop])
        else:
            dset.read_direct(buf, np.s_[start:stop], np.s_[0 : stop - start])
            np.take(buf, rows[lo:hi] - start, axis=0, out=dest)
        yield lo, hi, dest


def take_rows(dset: h5py.Dataset, rows: np.ndarray | None) -> np.ndarray:
    """``dset[rows]`` (all rows for None) through ``row_blocks``: memory is the result plus one block."""
    if rows is None:
        return dset[:]
    out = np.empty((len(rows),) + dset.shape[1:], dset.dtype)
    for _ in row_blocks(dset, rows, out):
        pass
    return out


class DatasetReader:
    """An open canonical file whose layout was checked from its metadata (keys, attributes, dtypes, shapes) without
    reading the arrays; ``read_rows`` reads the chosen rows of one array. Errors name the file and the problem."""

    def __init__(self, path):
        self.path = path = Path(path)
        self.where = f"dataset file {path}"
        if not path.exists():
            raise DatasetError(f"dataset file {path} does not exist")
        if not h5py.is_hdf5(path):
            raise DatasetError(f"dataset file {path} is not an HDF5 file (truncated or wrong format?)")
        try:
            self.file = h5py.File(path, "r")
        except OSError as err:
            raise DatasetError(f"dataset file {path} cannot be opened (truncated or corrupt?): {err}") from err
        try:
            self._check()
        except BaseException:
            self.file.close()
            raise

    def _check(self) -> None:
        f, path = self.file, self.path
        try:
            for key in KEYS:
                if key not in f:
                    raise DatasetError(f"dataset file {path} has no '{key}' array")
            for key in ATTRS:
                if key not in f.attrs:
                    raise DatasetError(f"dataset file {path} has no '{key}' attribute")
            for key, dtype in (("factors", np.int64), ("factor_values", np.float64), ("index", np.int64)):
                if f[key].dtype != dtype:
                    raise DatasetError(f"dataset file {path}: '{key}' must be {np.dtype(dtype)}, got {f[key].dtype}")
            self.name = str(f.attrs["name"])
            self.factor_names = [str(s) for s in f.attrs["factor_names"]]
            self.factor_sizes = [int(s) for s in f.attrs["factor_sizes"]]
            self.source = str(f.attrs["source"])
            self.description = str(f.attrs["description"])
            self.n_total = int(f.attrs["n_total"])
            self.checksum = str(f.attrs.get("checksum", ""))
        except OSError as err:
            raise DatasetError(f"dataset file {path} cannot be read (truncated or corrupt?): {err}") from err
        _check_layout(*(f[key] for key in KEYS), self.factor_sizes, self.where)

    def __len__(self) -> int:
        return self.file["images"].shape[0]

    def shape(self, key: str) -> tuple[int, ...]:
        return self.file[key].shape

    def read_rows(self, key: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Rows ``rows`` (sorted, distinct; None: all) of array ``key`` (``take_rows``); factors' classes checked."""
        try:
            out = take_rows(self.file[key], rows)
        except OSError as err:
            raise self._unreadable(key, err) from err
        if key == "factors":
            _check_classes(out, self.factor_sizes, self.where)
        return out

    def iter_rows(self, key: str, rows: np.ndarray):
        """``row_blocks`` of array ``key``: ``(lo, hi, rows lo..hi)`` in a buffer the next block reuses."""
        try:
            yield from row_blocks(self.file[key], rows)
        except OSError as err:
            raise self._unreadable(key, err) from err

    def _unreadable(self, key: str, err: OSError) -> DatasetError:
        return DatasetError(f"{self.where}: '{key}' cannot be read (truncated or corrupt?): {err}")

    def read(self, rows: np.ndarray | None = None) -> Dataset:
        """Every array's rows ``rows`` (None: the whole file) as a ``Dataset``."""
        arrays = {key: self.read_rows(key, rows) for key in KEYS}
        return Dataset(name=self.name, **arrays, factor_names=self.factor_names, factor_sizes=self.factor_sizes,
                       source=self.source, description=self.description, n_total=self.n_total,
                       checksum=self.checksum)  # fmt: skip

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> DatasetReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_dataset(path) -> DatasetReader:
    """Open a canonical file and check its layout (``DatasetReader``; use it as a context manager)."""
    return DatasetReader(path)


def read_dataset(path) -> Dataset:
    """Load a canonical file into memory, checking its layout; errors name the file and the problem."""
    with open_dataset(path) as f:
        return f.read()
