"""Convert the original dataset files into the canonical layout (docs/FORMATS.md).

- dSprites: ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (keys ``imgs``, ``latents_values``,
  ``latents_classes``). It is opened with ``allow_pickle=False`` and its pickled ``metadata`` entry is never read.
  The constant ``color`` factor is dropped; images become uint8 {0, 255} with one channel. ``imgs`` is streamed
  from the zip member in chunks, so the 3 GB of pixels are never all in memory.
- Shapes3D: ``3dshapes.h5`` (keys ``images``, ``labels``). Labels are mapped to class indices on the known factor
  grid; images are streamed in chunks.

Both keep the original order; ``index`` is the row in the full factor grid (``arange`` for a full file). Every
problem with the input raises ``DatasetError`` naming the file and what is wrong.
"""

from __future__ import annotations

import logging
import zipfile
import zlib
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from vaesae.data import dsprites, shapes3d
from vaesae.data.canonical import DatasetError, write_dataset_chunked

log = logging.getLogger("vaesae.data")

DSPRITES_KEYS = ("imgs", "latents_values", "latents_classes")
SHAPES3D_KEYS = ("images", "labels")
LABEL_TOL = 1e-6
SHAPES3D_GRIDS = (
    shapes3d.HUES,
    shapes3d.HUES,
    shapes3d.HUES,
    shapes3d.SCALES,
    np.arange(4, dtype=np.float64),  # shape is stored as the floats 0..3
    shapes3d.ORIENTATIONS,
)
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


# ---------------------------------------------------------------------------------------------------------- dSprites


def _npz_array(npz, key: str, src: Path) -> np.ndarray:
    try:
        return npz[key]
    except _READ_ERRORS as err:
        raise DatasetError(
            f"{src}: cannot read '{key}' ({type(err).__name__}: {err}); truncated or corrupt file?"
        ) from None


def _npy_header(fp):
    """(shape, fortran_order, dtype) of an .npy stream, or None for a header version we do not stream."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fp)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fp)
    return None


def _iter_rows(src: Path, npz, key: str, n: int, chunk: int):
    """Yield consecutive row blocks of npz member ``key`` (C order), reading the zip member as a stream."""
    try:
        zf = zipfile.ZipFile(src)
        member = zf.open(f"{key}.npy")
    except (KeyError, *_READ_ERRORS):
        member = None
    header = None
    if member is not None:
        try:
            header = _npy_header(member)
        except _READ_ERRORS as err:
            raise DatasetError(f"{src}: '{key}' has an unreadable header ({err})") from None
    if header is None or header[1]:  # unusual header version or Fortran order: load it whole
        if member is not None:
            member.close()
            zf.close()
        arr = _npz_array(npz, key, src)
        for start in range(0, n, chunk):
            yield arr[start : start + chunk]
        return
    shape, _, dtype = header
    row_shape = tuple(shape[1:])
    row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
    with zf, member:
        for start in range(0, n, chunk):
            rows = min(chunk, n - start)
            want = rows * row_bytes
            try:
                buf = member.read(want)
            except _READ_ERRORS as err:
                raise DatasetError(f"{src}: cannot read '{key}' ({type(err).__name__}: {err}); truncated?") from None
            if len(buf) != want:
                raise DatasetError(f"{src}: '{key}' ends early (row {start + len(buf) // max(row_bytes, 1)} of {n})")
            yield np.frombuffer(buf, dtype=dtype).reshape((rows, *row_shape))


def convert_dsprites_npz(src, out, *, source: str = "download", checksum: str = "", chunk: int = 16384,
                         progress: bool = True) -> None:  # fmt: skip
    """Write the canonical dSprites file ``out`` from the original npz ``src`` (never unpickling ``metadata``)."""
    src = Path(src)
    if not src.is_file():
        raise DatasetError(f"dSprites file {src} does not exist")
    try:
        npz = np.load(src, allow_pickle=False)
    except _READ_ERRORS as err:
        raise DatasetError(f"{src} is not a readable npz file ({type(err).__name__}: {err}); truncated?") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DatasetError(f"{src} is a single .npy array, not the dSprites npz archive")
    with npz:
        for key in DSPRITES_KEYS:
            if key not in npz.files:
                raise DatasetError(f"{src} has no '{key}' array (keys: {', '.join(npz.files)}); not the dSprites npz?")
        values = _npz_array(npz, "latents_values", src)
        classes = _npz_array(npz, "latents_classes", src)
        n = len(classes)
        if classes.ndim != 2 or classes.shape[1] != 6 or not np.issubdtype(classes.dtype, np.integer):
            raise DatasetError(f"{src}: 'latents_classes' must be integer (N, 6), got {classes.dtype} {classes.shape}")
        if values.shape != (n, 6) or not np.issubdtype(values.dtype, np.floating):
            raise DatasetError(f"{src}: 'latents_values' must be float (N={n}, 6), got {values.dtype} {values.shape}")
        if not 0 < n <= dsprites.N_TOTAL:
            raise DatasetError(f"{src}: {n} rows; expected 1..{dsprites.N_TOTAL}")
        if np.any(classes[:, 0] != 0):
            raise DatasetError(f"{src}: 'latents_classes' column 0 (color) must be 0 everywhere")
        factors = classes[:, 1:].astype(np.int64)
        sizes = np.asarray(dsprites.FACTOR_SIZES)
        if factors.min() < 0 or np.any(factors.max(0) >= sizes):
            raise DatasetError(f"{src}: 'latents_classes' outside the factor sizes {dsprites.FACTOR_SIZES}")
        grid_index = factors @ dsprites.STRIDES
        if n == dsprites.N_TOTAL:
            if not np.array_equal(grid_index, np.arange(n)):
                raise DatasetError(f"{src}: rows are not in the real dSprites order (classes · strides != arange)")
            index = np.arange(n, dtype=np.int64)
        elif np.any(np.diff(grid_index) <= 0):
            raise DatasetError(f"{src}: grid indices (classes · strides) are not strictly increasing")
        else:
            index = grid_index.astype(np.int64)
        factor_values = np.ascontiguousarray(values[:, 1:], dtype=np.float64)
        off = np.abs(factor_values - dsprites.factor_values(factors)).max()
        if not off <= LABEL_TOL:
            log.warning("%s: latents_values differ from the factor grid by up to %.3g", src, off)

        images_header = _imgs_shape(src)
        if images_header is not None and tuple(images_header[0]) != (n, 64, 64):
            raise DatasetError(f"{src}: 'imgs' must have shape ({n}, 64, 64), got {tuple(images_header[0])}")
        if images_header is not None and images_header[1].kind not in "biu":
            raise DatasetError(f"{src}: 'imgs' must be uint8, got {images_header[1]}")

        def chunks():
            pos = 0
            blocks = _iter_rows(src, npz, "imgs", n, chunk)
            for block in tqdm(blocks, total=-(-n // chunk), desc="converting dsprites", unit="chunk",
                              disable=not progress, mininterval=2.0):  # fmt: skip
                if block.ndim != 3 or block.shape[1:] != (64, 64):
                    raise DatasetError(f"{src}: 'imgs' must have shape ({n}, 64, 64), got rows of {block.shape[1:]}")
                if block.size and (block.min() < 0 or block.max() > 1):
                    raise DatasetError(f"{src}: 'imgs' must hold 0/1 pixels, found values up to {block.max()}")
                end = pos + len(block)
                img = (block.astype(np.uint8) * np.uint8(255))[..., None]
                yield img, factors[pos:end], factor_values[pos:end], index[pos:end]
                pos = end

        write_dataset_chunked(
            out,
            n=n,
            channels=1,
            chunks=chunks(),
            name=dsprites.NAME,
            factor_names=dsprites.FACTOR_NAMES,
            factor_sizes=dsprites.FACTOR_SIZES,
            source=source,
            description=f"dSprites (Matthey et al. 2017), converted from {src.name}",
            n_total=dsprites.N_TOTAL,
            checksum=checksum,
        )


def _imgs_shape(src: Path):
    """(shape, dtype) from the header of the npz member ``imgs.npy``, or None when it cannot be read that way."""
    try:
        with zipfile.ZipFile(src) as zf, zf.open("imgs.npy") as member:
            header = _npy_header(member)
    except (KeyError, *_READ_ERRORS):
        return None
    return None if header is None else (header[0], header[2])


# ---------------------------------------------------------------------------------------------------------- Shapes3D


def labels_to_classes(labels: np.ndarray, src="labels") -> np.ndarray:
    """Class indices (N, 6) of Shapes3D labels on the known grid; DatasetError for a label off the grid."""
    labels = np.asarray(labels, dtype=np.float64)
    classes = np.empty(labels.shape, dtype=np.int64)
    for j, (name, grid) in enumerate(zip(shapes3d.FACTOR_NAMES, SHAPES3D_GRIDS)):
        col = labels[:, j]
        hi = np.clip(np.searchsorted(grid, col), 1, len(grid) - 1)
        lo = hi - 1
        k = np.where(np.abs(col - grid[lo]) <= np.abs(col - grid[hi]), lo, hi)
        bad = ~(np.abs(col - grid[k]) <= LABEL_TOL * (1.0 + np.abs(grid[k])))  # NaN is bad too
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DatasetError(
                f"{src}: label '{name}' of row {row} is {col[row]!r}, not on the grid {np.round(grid, 6).tolist()} "
                f"({int(bad.sum())} rows off the grid)"
            )
        classes[:, j] = k
    return classes


def convert_shapes3d_h5(src, out, *, source: str = "download", checksum: str = "", chunk: int = 10000,
                        progress: bool = True) -> None:  # fmt: skip
    """Write the canonical Shapes3D file ``out`` from the original ``3dshapes.h5`` ``src``, streaming images."""
    src = Path(src)
    if not src.is_file():
        raise DatasetError(f"Shapes3D file {src} does not exist")
    try:
        is_h5 = h5py.is_hdf5(src)
    except OSError:
        is_h5 = False
    if not is_h5:
        raise DatasetError(f"{src} is not an HDF5 file (truncated download or wrong file?)")
    try:
        f = h5py.File(src, "r")
    except OSError as err:
        raise DatasetError(f"{src}: cannot open as HDF5 ({err}); truncated or corrupt file?") from None
    with f:
        try:
            for key in SHAPES3D_KEYS:
                if key not in f or not isinstance(f[key], h5py.Dataset):
                    raise DatasetError(f"{src} has no '{key}' array (keys: {', '.join(f.keys())}); not 3dshapes.h5?")
            images, labels_ds = f["images"], f["labels"]
            n = images.shape[0] if images.ndim else 0
            if images.dtype != np.uint8 or images.shape != (n, 64, 64, 3):
                raise DatasetError(f"{src}: 'images' must be uint8 (N, 64, 64, 3), got {images.dtype} {images.shape}")
            if labels_ds.shape != (n, 6) or labels_ds.dtype.kind != "f":
                raise DatasetError(f"{src}: 'labels' must be float (N={n}, 6), got {labels_ds.dtype} {labels_ds.shape}")
            if not 0 < n <= shapes3d.N_TOTAL:
                raise DatasetError(f"{src}: {n} rows; expected 1..{shapes3d.N_TOTAL}")
            labels = labels_ds[:].astype(np.float64)
        except OSError as err:
            raise DatasetError(f"{src}: cannot read ({err}); truncated or corrupt file?") from None
        factors = labels_to_classes(labels, src)
        index = factors @ shapes3d.STRIDES
        if n == shapes3d.N_TOTAL and not np.array_equal(index, np.arange(n)):
            raise DatasetError(f"{src}: rows are not in the real Shapes3D order (classes · strides != arange)")
        if np.any(np.diff(index) <= 0):
            raise DatasetError(f"{src}: grid indices (classes · strides) are not strictly increasing")

        def chunks():
            for start in tqdm(range(0, n, chunk), desc="converting shapes3d", unit="chunk", disable=not progress,
                              mininterval=2.0):  # fmt: skip
                end = min(start + chunk, n)
                try:
                    img = images[start:end]
                except OSError as err:
                    raise DatasetError(f"{src}: cannot read images {start}:{end} ({err}); truncated?") from None
                yield img, factors[start:end], labels[start:end], index[start:end]

        write_dataset_chunked(
            out,
            n=n,
            channels=3,
            chunks=chunks(),
            name=shapes3d.NAME,
            factor_names=shapes3d.FACTOR_NAMES,
            factor_sizes=shapes3d.FACTOR_SIZES,
            source=source,
            description=f"Shapes3D (Burgess & Kim 2018), converted from {src.name}",
            n_total=shapes3d.N_TOTAL,
            checksum=checksum,
        )


CONVERTERS = {"dsprites": convert_dsprites_npz, "shapes3d": convert_shapes3d_h5}


def convert(name: str, src, out, **kw) -> None:
    """Convert the original file of dataset ``name`` (``dsprites`` or ``shapes3d``) to the canonical ``out``."""
    try:
        fn = CONVERTERS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {sorted(CONVERTERS)}") from None
    fn(src, out, **kw)
