"""Write the canonical dataset file of one dataset (the ``dataset`` rule).

    python -m vaesae.data.generate --dataset dsprites --out resources/datasets/dsprites.h5 \
        --params '{"source": "procedural", "subset": 2000, "subset_seed": 0, "path": null}'

``source: procedural`` renders the full factor grid in the real order (or a seeded subset of it) in chunks, so
memory stays bounded. ``source: download`` fetches the original file (``download.url``) into ``raw_dir``, verifies
its published checksum and converts it. ``source: path`` takes a file the user already has: an original
(``.npz`` / ``3dshapes.h5``, verified against the same checksum, then converted) or a file in the canonical layout.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path
from urllib.parse import urlparse

import h5py

import numpy as np
from tqdm import tqdm

from vaesae.data import dsprites, shapes3d
from vaesae.data.canonical import DatasetError, read_dataset, write_dataset_chunked
from vaesae.data.convert import convert
from vaesae.data.download import fetch, verify
from vaesae.io import atomic_path, parse_params

log = logging.getLogger("vaesae.data")
MODULES = {"dsprites": dsprites, "shapes3d": shapes3d}
DESCRIPTIONS = {
    "dsprites": "procedural reproduction of dSprites (Matthey et al. 2017) on its real factor grid and order",
    "shapes3d": "procedural look-alike of Shapes3D (Burgess & Kim 2018) on its real factor grid and order, "
    "not the DeepMind release",
}


def dataset_module(name: str):
    try:
        return MODULES[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {sorted(MODULES)}") from None


def grid_classes(index: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Factor classes of grid rows (last factor fastest), shape (n, F)."""
    return np.stack(np.unravel_index(np.asarray(index, dtype=np.int64), sizes), axis=1).astype(np.int64)


def make_procedural(name: str, out_path, *, subset: int | None = None, subset_seed: int = 0,
                    chunk_size: int = 8192, progress: bool = True) -> None:  # fmt: skip
    mod = dataset_module(name)
    if subset is None:
        index = np.arange(mod.N_TOTAL, dtype=np.int64)
    else:
        if not 0 < subset <= mod.N_TOTAL:
            raise DatasetError(f"data.subset must be in 1..{mod.N_TOTAL} for {name}, got {subset}")
        rng = np.random.default_rng(subset_seed)
        index = np.sort(rng.choice(mod.N_TOTAL, size=subset, replace=False)).astype(np.int64)
    starts = range(0, len(index), chunk_size)

    def chunks():
        for start in tqdm(starts, desc=f"rendering {name}", unit="chunk", disable=not progress, mininterval=2.0):
            idx = index[start : start + chunk_size]
            classes = grid_classes(idx, mod.FACTOR_SIZES)
            yield mod.render(classes), classes, mod.factor_values(classes), idx

    write_dataset_chunked(
        out_path,
        n=len(index),
        channels=1 if name == "dsprites" else 3,
        chunks=chunks(),
        name=name,
        factor_names=mod.FACTOR_NAMES,
        factor_sizes=mod.FACTOR_SIZES,
        source="procedural",
        description=DESCRIPTIONS[name],
        n_total=mod.N_TOTAL,
    )


def is_canonical(path) -> bool:
    """True for an HDF5 file in this project's canonical layout (it has a ``factors`` array)."""
    if not h5py.is_hdf5(path):
        return False
    with h5py.File(path, "r") as f:
        return "factors" in f and "images" in f


def from_path(name: str, src: str, out_path, download: dict | None = None) -> None:
    """The user's own file: a canonical file is checked and copied; an original is verified, then converted."""
    if not Path(src).exists():
        raise DatasetError(f"data.path.{name}: file {src} does not exist")
    if is_canonical(src):
        ds = read_dataset(src)  # raises DatasetError naming the file and the problem
        if ds.name != name:
            raise DatasetError(f"data.path.{name} = {src} holds dataset {ds.name!r}, not {name!r}")
        with atomic_path(out_path) as tmp:
            shutil.copyfile(src, tmp)
        return
    download = download or {}
    sha256 = verify(src, sha256=download.get("sha256"), md5=download.get("md5"))
    convert(name, src, out_path, source="path", checksum=sha256)


def from_download(name: str, out_path, download: dict, raw_dir: str) -> None:
    """Fetch the original file (kept in ``raw_dir`` and reused once verified), verify it, convert it."""
    url = download.get("url")
    if not url:
        raise DatasetError(f"data.source is 'download' but data.download.{name}.url is not set")
    if not (download.get("md5") or download.get("sha256")):
        raise DatasetError(f"data.download.{name} has no md5 or sha256: a download must be verifiable")
    raw = Path(raw_dir) / Path(urlparse(url).path).name
    fetch(url, raw, sha256=download.get("sha256"), md5=download.get("md5"), dataset=name)
    sha256 = verify(raw, sha256=download.get("sha256"), md5=download.get("md5"))
    convert(name, raw, out_path, source="download", checksum=sha256)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vaesae.data.generate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--params", default="{}")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    params = parse_params(args.params)
    source = params.get("source", "procedural")
    try:
        dataset_module(args.dataset)
        if source == "procedural":
            make_procedural(args.dataset, args.out, subset=params.get("subset"), subset_seed=params.get("subset_seed", 0))
        elif params.get("subset") is not None:
            raise DatasetError(f"data.subset applies to data.source: procedural only, not {source!r}")
        elif source == "path":
            if not params.get("path"):
                raise DatasetError(f"data.source is 'path' but data.path.{args.dataset} is not set")
            from_path(args.dataset, params["path"], args.out, params.get("download"))
        elif source == "download":
            from_download(args.dataset, args.out, params.get("download") or {}, params.get("raw_dir") or ".")
        else:
            raise DatasetError(f"data.source must be procedural, download or path, got {source!r}")
    except DatasetError as err:
        log.error("%s", err)
        print(f"error: {err}", file=sys.stderr)
        return 1
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
