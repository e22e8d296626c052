"""Load the pipeline's result files (docs/FORMATS.md) into tidy pandas DataFrames.

Every loader names the offending file in its error message when a file is missing or lacks a required attribute
or column.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

#: Root attributes of an evaluation file that the report needs (FORMATS.md, "Final evaluation").
EVAL_REQUIRED_ATTRS = (
    "dataset",
    "seed",
    "phase",
    "method",
    "k",
    "k_latent",
    "mig",
    "mse",
    "dead_pct",
    "specialized",
    "latent_dead_pct",
    "latent_specialized",
    "n_neurons",
)
#: Read when present, NaN otherwise.
EVAL_OPTIONAL_ATTRS = (
    "n_latent_neurons",
    "dead_threshold",
    "specialization_threshold",
    "sap",
    "dci_disentanglement",
    "dci_completeness",
    "dci_informativeness",
)
EVAL_COLUMNS = EVAL_REQUIRED_ATTRS + EVAL_OPTIONAL_ATTRS + ("path",)

#: history.csv columns the report cannot do without.
HISTORY_REQUIRED_COLUMNS = (
    "dataset",
    "seed",
    "phase",
    "stage",
    "method",
    "epoch",
    "k",
    "dead_pct",
    "specialized",
    "mig",
    "mse",
)
#: The other FORMATS.md columns: added as NaN when a file lacks them.
HISTORY_OPTIONAL_COLUMNS = (
    "k_latent",
    "l1_lambda",
    "beta",
    "loss",
    "loss_vae",
    "loss_sae_conv",
    "loss_sae_latent",
    "recon",
    "kl",
    "latent_dead_pct",
    "latent_specialized",
    "reinit",
    "seconds",
)
HISTORY_COLUMNS = HISTORY_REQUIRED_COLUMNS + HISTORY_OPTIONAL_COLUMNS

SWEEP_COLUMNS = ("dataset", "seed", "phase", "sae", "kind", "threshold", "value")
BENCHMARK_COLUMNS = ("stage", "dataset", "seed", "variant", "seconds")
BENCHMARK_NAME = re.compile(r"^(?P<stage>[A-Za-z0-9]+)_(?P<dataset>.+)_seed(?P<seed>-?\d+)_(?P<variant>[A-Za-z0-9]+)\.tsv$")

_INT_COLS = ("seed", "k", "k_latent", "n_neurons", "n_latent_neurons")
_STR_COLS = ("dataset", "phase", "method", "stage", "sae", "kind", "variant")


class ReportInputError(ValueError):
    """A result file is missing or does not follow docs/FORMATS.md."""


def _as_paths(paths) -> list[Path]:
    if paths is None:
        return []
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return [Path(p) for p in paths]


def _check_exists(path: Path, what: str) -> None:
    if not path.is_file():
        raise ReportInputError(f"{what} file not found: {path}")


def _scalar(value):
    """HDF5 attribute -> plain Python scalar (bytes decoded, 0-d/1-element arrays unwrapped)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        if value.size == 1:
            return _scalar(value.reshape(()).item())
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _normalise_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    for col in _STR_COLS:
        if col in df.columns:
            df[col] = df[col].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())
    if "seed" in df.columns and len(df):
        df["seed"] = pd.to_numeric(df["seed"], errors="raise").astype("int64")
    return df


def load_eval_scalars(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """One row per evaluation file (``eval/{dataset}/seed{seed}/{phase}.h5``) from its root attributes.

    Columns: the attributes of :data:`EVAL_REQUIRED_ATTRS` and :data:`EVAL_OPTIONAL_ATTRS`, plus ``path``.
    """
    import h5py

    rows = []
    for path in _as_paths(paths):
        _check_exists(path, "evaluation")
        try:
            with h5py.File(path, "r") as h5:
                attrs = {key: _scalar(h5.attrs[key]) for key in h5.attrs.keys()}
        except OSError as err:
            raise ReportInputError(f"cannot read evaluation file {path}: {err}") from err
        missing = [key for key in EVAL_REQUIRED_ATTRS if key not in attrs]
        if missing:
            raise ReportInputError(
                f"evaluation file {path} lacks root attribute(s) {', '.join(missing)} (see docs/FORMATS.md)"
            )
        row = {key: attrs[key] for key in EVAL_REQUIRED_ATTRS}
        row.update({key: attrs.get(key, np.nan) for key in EVAL_OPTIONAL_ATTRS})
        row["path"] = str(path)
        rows.append(row)
    df = pd.DataFrame(rows, columns=list(EVAL_COLUMNS))
    for col in ("mig", "mse", "dead_pct", "specialized", "latent_dead_pct", "latent_specialized",
                "dead_threshold", "specialization_threshold"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    for col in ("k", "k_latent", "n_neurons", "n_latent_neurons"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df = _normalise_dtypes(df)
    dup = df.duplicated(["dataset", "seed", "phase"], keep=False)
    if dup.any():
        files = ", ".join(df.loc[dup, "path"])
        raise ReportInputError(f"several evaluation files for the same (dataset, seed, phase): {files}")
    return df.reset_index(drop=True)


def load_histories(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate ``history.csv`` files (one row per epoch); adds a ``path`` column."""
    frames = []
    for path in _as_paths(paths):
        _check_exists(path, "history")
        try:
            df = pd.read_csv(path)
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
            raise ReportInputError(f"cannot parse history file {path}: {err}") from err
        missing = [col for col in HISTORY_REQUIRED_COLUMNS if col not in df.columns]
        if missing:
            raise ReportInputError(
                f"history file {path} lacks column(s) {', '.join(missing)} (see docs/FORMATS.md)"
            )
        for col in HISTORY_OPTIONAL_COLUMNS:
            if col not in df.columns:
                df[col] = np.nan
        df["path"] = str(path)
        frames.append(df)
    columns = list(HISTORY_COLUMNS) + ["path"]
    if not frames:
        return pd.DataFrame(columns=columns)
    out = pd.concat(frames, ignore_index=True)
    extra = [c for c in out.columns if c not in columns]
    out = out[columns + extra]
    for col in ("epoch", "k", "k_latent", "dead_pct", "specialized", "mig", "mse", "latent_dead_pct",
                "latent_specialized", "reinit", "seconds", "l1_lambda"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
    return _normalise_dtypes(out)


def load_sweep(path: str | os.PathLike | None) -> pd.DataFrame:
    """Read ``sweeps/thresholds.csv`` (long format). ``None`` gives an empty frame with the right columns."""
    if path is None or str(path) == "":
        return pd.DataFrame(columns=list(SWEEP_COLUMNS))
    path = Path(path)
    _check_exists(path, "threshold sweep")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=list(SWEEP_COLUMNS))
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ReportInputError(f"cannot parse threshold sweep file {path}: {err}") from err
    missing = [col for col in SWEEP_COLUMNS if col not in df.columns]
    if missing:
        raise ReportInputError(f"threshold sweep file {path} lacks column(s) {', '.join(missing)}")
    df["threshold"] = pd.to_numeric(df["threshold"], errors="coerce").astype(float)
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    return _normalise_dtypes(df)


def parse_benchmark_name(path: str | os.PathLike) -> dict:
    """``{stage}_{dataset}_seed{seed}_{variant}.tsv`` -> dict(stage, dataset, seed, variant)."""
    name = Path(path).name
    match = BENCHMARK_NAME.match(name)
    if not match:
        raise ReportInputError(
            f"benchmark file {path} does not match the pattern {{stage}}_{{dataset}}_seed{{seed}}_{{variant}}.tsv"
        )
    out = match.groupdict()
    out["seed"] = int(out["seed"])
    return out


def load_benchmarks(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """One row per Snakemake benchmark file: stage, dataset, seed, variant, seconds (column ``s``).

    A benchmark file with several rows (``repeat(...)``) gives the mean of its rows.
    """
    rows = []
    for path in _as_paths(paths):
        ident = parse_benchmark_name(path)
        _check_exists(path, "benchmark")
        try:
            df = pd.read_csv(path, sep="\t")
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
            raise ReportInputError(f"cannot parse benchmark file {path}: {err}") from err
        if "s" not in df.columns:
            raise ReportInputError(f"benchmark file {path} lacks column 's' (seconds)")
        seconds = pd.to_numeric(df["s"], errors="coerce")
        if seconds.notna().sum() == 0:
            raise ReportInputError(f"benchmark file {path} has no numeric value in column 's'")
        rows.append({**ident, "seconds": float(seconds.mean())})
    df = pd.DataFrame(rows, columns=list(BENCHMARK_COLUMNS))
    df["seconds"] = df["seconds"].astype(float)
    return _normalise_dtypes(df)


GLOBAL_COLUMNS = ("sap", "dci_disentanglement", "dci_completeness", "dci_informativeness")


def merge_global_metrics(scalars: pd.DataFrame, paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Fill the SAP/DCI columns of ``scalars`` from the one-row CSVs of the ``global_metrics`` rule."""
    paths = list(paths)
    if not paths:
        return scalars
    frames = []
    for path in paths:
        try:
            frame = pd.read_csv(path)
        except (OSError, pd.errors.ParserError) as err:
            raise ReportInputError(f"{path}: cannot read SAP/DCI rows ({err})") from err
        missing = [c for c in ("dataset", "seed", "phase", *GLOBAL_COLUMNS) if c not in frame]
        if missing:
            raise ReportInputError(f"{path}: missing columns {missing}")
        frames.append(frame)
    extra = pd.concat(frames, ignore_index=True)
    extra["seed"] = extra["seed"].astype(int)
    base = scalars.drop(columns=[c for c in GLOBAL_COLUMNS if c in scalars])
    return base.merge(extra[["dataset", "seed", "phase", *GLOBAL_COLUMNS]], on=["dataset", "seed", "phase"], how="left")
