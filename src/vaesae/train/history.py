"""The raw per-epoch history of a training run: ``history.h5`` next to ``history.csv`` (docs/FORMATS.md).

Each epoch's raw measurements (``vaesae.evaluation.measure`` on the fixed evaluation set, and what revival did) are
written as one ``epoch_{e:05d}.npz`` under ``{model}.history-parts/`` as soon as the epoch ends, atomically, so a
resumed run keeps the epochs before its resume point and drops the rest. When the run completes, the parts are
stacked along a leading epoch axis into ``history.h5``:

    epoch                                  (E,)        0-based epoch; stage 2 starts with epoch −1, the network
                                                       evaluated before its first optimizer step (AT_INIT_EPOCH)
    scalars/<column>                       (E,)        every numeric column of history.csv (loss terms, MIG, MSE ...)
    vae/latent_mi                          (E, L, F)   MI (nats) of each VAE mean with each factor (MIG's matrix)
    {conv,latent}_sae/activation_rate      (E, M)      rate of ã > 0 on the evaluation set      (reading ``topk``)
    {conv,latent}_sae/mi                   (E, M, F)   normalised MI of ã with each factor
    {conv,latent}_sae/active               (E,)        mean number of active neurons per sample (Σ rates)
    {conv,latent}_sae/*_pre                            the same for a = ReLU(pre)            (reading ``pre_topk``)
    {conv,latent}_sae/activation_rate_centred  (E, M)  rate of ã > 0 with the SAE's input centred over the evaluation
                                                       set (``vaesae.evaluation``): the dead % a centred input gives
    revival/boost, revival/spread          (E, M)      b_boost during the epoch; σ of the pre-activations (probe)
    revival/train_rate                     (E, M)      training activation rate of ã during the epoch
    revival/reinit                         (E, M)      uint8: selected at the epoch's end, re-initialised before the
                                                       next epoch trains (or when extended training starts)

Matrices are float32, gzip-compressed (level 1, shuffled) in one chunk per epoch.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np

from vaesae.io import atomic_path

PART = "epoch_{:05d}.npz"
#: The epoch of the evaluation before a stage's first optimizer step (stage 2's at-initialisation row).
AT_INIT_EPOCH = -1
#: The two readings of the SAE activations and the suffix of their datasets (``mi``, ``mi_pre`` ...), in history.h5
#: and in the evaluation files alike.
READING_SUFFIX = {"topk": "", "pre_topk": "_pre"}


def flatten(measured: dict, revival=None) -> dict[str, np.ndarray]:
    """The arrays of one epoch under their ``history.h5`` names, from ``measure``'s dict and a RevivalRecord."""
    out: dict[str, np.ndarray] = {"vae/latent_mi": np.asarray(measured["latent_mi"], dtype=np.float32)}
    for sae in ("conv", "latent"):
        if sae not in measured:
            continue
        for reading, suffix in READING_SUFFIX.items():
            r = measured[sae][reading]
            out[f"{sae}_sae/activation_rate{suffix}"] = np.asarray(r["rates"], dtype=np.float32)
            out[f"{sae}_sae/mi{suffix}"] = np.asarray(r["mi"], dtype=np.float32)
            out[f"{sae}_sae/active{suffix}"] = np.float64(r["active"])
        if "centred" in measured[sae]:
            out[f"{sae}_sae/activation_rate_centred"] = np.asarray(measured[sae]["centred"]["rates"], dtype=np.float32)
    if revival is not None:
        out["revival/boost"] = revival.boost.astype(np.float32)
        out["revival/spread"] = revival.spread.astype(np.float32)
        out["revival/train_rate"] = revival.train_rate.astype(np.float32)
        out["revival/reinit"] = revival.reinit.astype(np.uint8)
    return out


class HistoryParts:
    """The per-epoch part files of one run, in ``directory``."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)

    def write(self, epoch: int, arrays: dict[str, np.ndarray], scalars: dict) -> None:
        payload = {name.replace("/", "|"): value for name, value in arrays.items()}
        for key, value in scalars.items():
            if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
                payload[f"scalars|{key}"] = np.float64(value)
        self.dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.dir / PART.format(epoch)) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **payload)

    def keep_before(self, epoch: int) -> None:
        """Drop the parts of epochs >= ``epoch`` (a resumed run restarts there)."""
        if self.dir.is_dir():
            for part in self.dir.glob("epoch_*.npz"):
                if int(part.stem.split("_")[1]) >= epoch:
                    part.unlink()

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def assemble(self, out: str | Path, n_epochs: int, attrs: dict, first: int = 0) -> None:
        """Stack epochs first..n_epochs-1 into ``out`` (atomic; ``first`` = AT_INIT_EPOCH adds the at-initialisation
        evaluation); ValueError naming a missing or inconsistent part."""
        parts = []
        for epoch in range(first, n_epochs):
            path = self.dir / PART.format(epoch)
            if not path.is_file():
                raise ValueError(f"raw history part {path} is missing; rerun the stage")
            with np.load(path) as npz:
                parts.append({name.replace("|", "/"): npz[name] for name in npz.files})
        names = list(dict.fromkeys(name for p in parts for name in p))  # every part's, in first-seen order
        with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset("epoch", data=np.arange(first, n_epochs, dtype=np.int64))
            for name in names:
                try:  # a scalar column an epoch has no value for (the loss before any step) is NaN there
                    missing = np.float64(np.nan) if name.startswith("scalars/") else None
                    stacked = np.stack([p[name] if missing is None else p.get(name, missing) for p in parts])
                except (KeyError, ValueError) as err:
                    raise ValueError(f"raw history parts in {self.dir} disagree on {name!r}: {err}") from err
                if stacked.ndim > 1:
                    f.create_dataset(name, data=stacked, chunks=(1, *stacked.shape[1:]), compression="gzip",
                                     compression_opts=1, shuffle=True)  # fmt: skip
                else:
                    f.create_dataset(name, data=stacked)
            f.attrs.update({k: v for k, v in attrs.items() if v is not None})


def read_history(path: str | Path) -> dict:
    """All datasets of a ``history.h5`` as numpy arrays (``{"attrs": {...}, name: array}``); ValueError naming the
    file when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"raw history file not found: {path}")
    out: dict = {}
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
            out["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    except OSError as err:
        raise ValueError(f"{path}: cannot be read as HDF5 ({err})") from err
    return out
