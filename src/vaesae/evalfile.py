"""The final evaluation file ``{res}/eval/{dataset}/seed{seed}/{phase}.h5`` (docs/FORMATS.md): its writer and reader.

The ``evaluate`` rule writes it (``vaesae.cli.evaluate``, :func:`write_eval`); the ``summarize`` rule
(``vaesae.summary``), the ``sweep`` rule (``vaesae.cli.sweep``) and the ``global_metrics`` rule
(``vaesae.cli.global_metrics``) read it with :func:`read_eval`, each naming the root attributes and datasets it needs.
Every problem with a file (missing, not HDF5, a key missing, matrices of different neurons) is an
:class:`EvalFileError` that names the file and the key. The module imports no model code: a rule that only reads the
file does not list the network's modules among its sources.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import h5py
import numpy as np

from vaesae.io import atomic_path
from vaesae.train.history import READING_SUFFIX

if TYPE_CHECKING:
    import torch

#: The SAE groups of the file, and the key ``measure`` files each group's measurements under.
GROUPS = {"conv_sae": "conv", "latent_sae": "latent"}
#: The per-neuron measurement datasets of each SAE group, both readings (``READING_SUFFIX``): what the reader reads.
MEASUREMENTS = tuple(f"{name}{sfx}" for sfx in READING_SUFFIX.values() for name in ("mi", "activation_rate"))
#: The root attributes that name a file's (dataset, seed, phase).
IDENTITY = ("dataset", "seed", "phase")
#: The root attributes of the scalar measurements (``measure``'s keys).
SCALARS = ("mig", "mse")


class EvalFileError(ValueError):
    """An evaluation file is missing or does not follow docs/FORMATS.md; the message names the file and the key."""


def measurement_keys(names: Iterable[str] = MEASUREMENTS) -> tuple[str, ...]:
    """``{group}/{name}`` for every SAE group and each of ``names``, group by group."""
    return tuple(f"{group}/{name}" for group in GROUPS for name in names)


def to_csr(acts: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, indices, values) of a dense (N, M) activation matrix; computed on its device."""
    import torch  # here, not at the top: the rules that only read the file (sweep, summarize, global_metrics) start
    # without torch

    nz = acts != 0
    counts = nz.sum(1)
    indptr = np.zeros(acts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts.cpu().numpy(), out=indptr[1:])
    rows, cols = torch.nonzero(nz, as_tuple=True)
    return indptr, cols.cpu().numpy().astype(np.int32), acts[rows, cols].float().cpu().numpy()


def write_eval(path: str | Path, outputs, metrics: dict, factors: np.ndarray, *, dataset: str, seed: int, phase: str,
               method: str, k: int | None, k_latent: int | None, factor_names: list[str], n_bins: int,
               data_source: str, data_description: str) -> None:  # fmt: skip
    """Write the evaluation file atomically: the evaluation pass ``outputs`` (``vaesae.evaluation.EvalOutputs``: the
    VAE means and ã of both SAEs), its raw measurements ``metrics`` (``vaesae.evaluation.measure``, with the SAEs),
    the ``factors`` of the evaluation samples and the run's identity (``k``/``k_latent``: ``None`` without Top-k,
    stored as −1)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("factors", data=factors.astype(np.int64))
        f.create_dataset("vae_means", data=outputs.mu.float().cpu().numpy())
        f.create_dataset("latent_mi", data=metrics["latent_mi"])
        for group, acts in (("conv_sae", outputs.a_conv), ("latent_sae", outputs.a_lat)):
            g = f.create_group(group)
            indptr, indices, values = to_csr(acts)
            g.create_dataset("indptr", data=indptr)
            g.create_dataset("indices", data=indices, compression="gzip", compression_opts=1)
            g.create_dataset("values", data=values, compression="gzip", compression_opts=1)
            for reading, suffix in READING_SUFFIX.items():
                r = metrics[GROUPS[group]][reading]
                g.create_dataset(f"mi{suffix}", data=r["mi"])
                g.create_dataset(f"activation_rate{suffix}", data=r["rates"])
                g.attrs[f"active{suffix}"] = r["active"]
            g.attrs["n_neurons"] = acts.shape[1]
        f.attrs.update(
            dataset=dataset,
            seed=seed,
            phase=phase,
            method=method,
            k=-1 if k is None else k,
            k_latent=-1 if k_latent is None else k_latent,
            n_neurons=outputs.a_conv.shape[1],
            n_latent_neurons=outputs.a_lat.shape[1],
            n_eval=len(factors),
            factor_names=factor_names,
            n_bins=n_bins,
            data_source=data_source,
            data_description=data_description,
            **{s: metrics[s] for s in SCALARS},
        )


def _decode(value):
    """An attribute as Python reads it: str for bytes, the item of a 0-d array or numpy scalar."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.shape == ():
        return _decode(value.item())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_neurons(path: Path, group: str, arrays: dict) -> None:
    """The MI matrices (M, F) and rate vectors (M,) of ``group`` that were read describe the same M neurons."""
    shapes = {name: np.shape(a) for name, a in arrays.items()}
    if not shapes:
        return
    m = {s[:1] for s in shapes.values()}
    if len(m) > 1 or any(len(s) != (2 if name.startswith("mi") else 1) for name, s in shapes.items()):
        found = " and ".join(f"'{group}/{name}' {s}" for name, s in shapes.items())
        raise EvalFileError(f"evaluation file {path}: {found} do not describe the same neurons")


def read_eval(path: str | Path, *, attrs: Iterable[str] = IDENTITY, datasets: Iterable[str] = ()) -> dict:
    """One evaluation file: ``{"attrs": the root attributes (decoded), "factors": (N, F) or None, "conv_sae":
    {name: array}, "latent_sae": {...}}`` with each group's :data:`MEASUREMENTS` that the file has, plus any other
    root-level array named in ``datasets`` (``"vae_means"``, ``"latent_mi"``); not the activations.

    :class:`EvalFileError` naming the file when it is missing or unreadable, lacks one of the root attributes
    ``attrs`` or one of the ``datasets`` (``"factors"``, ``"vae_means"``, ``"conv_sae/mi"``, ...: root arrays and keys
    of :func:`measurement_keys`), or when a group's MI matrices and rates do not describe the same neurons."""
    path, datasets = Path(path), tuple(datasets)
    if not path.is_file():
        raise EvalFileError(f"evaluation file not found: {path}")
    roots = dict.fromkeys(("factors", *(key for key in datasets if "/" not in key)))
    try:
        with h5py.File(path, "r") as f:
            out = {"attrs": {key: _decode(value) for key, value in f.attrs.items()}}
            for key in roots:
                out[key] = f[key][()] if isinstance(f.get(key), h5py.Dataset) else None
            for group in GROUPS:
                g = f.get(group)
                out[group] = {name: g[name][()] for name in MEASUREMENTS
                              if isinstance(g, h5py.Group) and isinstance(g.get(name), h5py.Dataset)}  # fmt: skip
    except OSError as err:
        raise EvalFileError(f"cannot read evaluation file {path}: {err}") from err
    for key in attrs:
        if key not in out["attrs"]:
            raise EvalFileError(f"evaluation file {path} lacks root attribute {key!r} (see docs/FORMATS.md)")
    for key in datasets:
        group, _, name = key.rpartition("/")
        if (name not in out.get(group, {})) if group else (out[key] is None):
            raise EvalFileError(f"evaluation file {path} lacks dataset '{key}' (see docs/FORMATS.md)")
    for group in GROUPS:
        _check_neurons(path, group, out[group])
    return out
