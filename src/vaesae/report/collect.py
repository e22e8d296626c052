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

from vaesae.columns import EVALUATION_COLUMNS, GLOBAL_COLUMNS

#: Columns of summary/evaluations.csv (``vaesae.summary``) that the report needs.
EVAL_REQUIRED_ATTRS = (
    "dataset", "seed", "phase", "method", "k", "k_latent", "mig", "mse", "dead_pct", "specialized", "latent_dead_pct",
    "latent_specialized", "n_neurons",
)  # fmt: skip
#: Read when present, NaN otherwise: every other column the summary writes (``vaesae.columns``), then SAP and DCI.
EVAL_OPTIONAL_ATTRS = (*(c for c in EVALUATION_COLUMNS if c not in EVAL_REQUIRED_ATTRS and c != "path"),
                       *GLOBAL_COLUMNS)
EVAL_COLUMNS = EVAL_REQUIRED_ATTRS + EVAL_OPTIONAL_ATTRS + ("path",)

#: history.csv columns the report cannot do without.
HISTORY_REQUIRED_COLUMNS = (
    "dataset", "seed", "phase", "stage", "method", "epoch", "k", "dead_pct", "specialized", "mig", "mse",
)  # fmt: skip
#: The other FORMATS.md columns: added as NaN when a file lacks them.
HISTORY_OPTIONAL_COLUMNS = (
    "boosted", "boost_mean", "boost_to_spread", "active", "reinit_alive_1", "reinit_alive_5", "k_latent", "l1_lambda",
    "beta", "loss", "loss_vae", "loss_sae_conv", "loss_sae_latent", "recon", "kl", "loss_aux", "l0", "l0_latent",
    "latent_dead_pct", "latent_specialized", "reinit", "seconds", "dead_floor", "h_norm_mean", "h_norm_std",
    "dec_norm_min", "dec_norm_median", "dec_norm_max", "a_l1", "conv_input_mean_norm", "conv_input_std_norm",
    "conv_input_gamma", "latent_input_mean_norm", "latent_input_std_norm", "latent_input_gamma", "dead_pct_centred",
    "latent_dead_pct_centred",
)  # fmt: skip
HISTORY_COLUMNS = HISTORY_REQUIRED_COLUMNS + HISTORY_OPTIONAL_COLUMNS

SWEEP_COLUMNS = ("dataset", "seed", "phase", "sae", "kind", "threshold", "value")
BENCHMARK_COLUMNS = ("stage", "dataset", "seed", "variant", "seconds")
#: ``{stage}_{dataset}_seed{seed}_{variant}.tsv``; the variant is ``shared`` or a method name, which may hold inner
#: underscores (``topk_auxk``).
BENCHMARK_NAME = re.compile(
    r"^(?P<stage>[A-Za-z0-9]+)_(?P<dataset>.+)_seed(?P<seed>-?\d+)_(?P<variant>[A-Za-z0-9_]+)\.tsv$"
)

_INT_COLS = ("seed", "k", "k_latent", "n_neurons", "n_latent_neurons")
_STR_COLS = ("dataset", "phase", "method", "stage", "sae", "kind", "variant", "data_source", "data_description",
             "specialization_activations")


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


def _read_table(path: str | os.PathLike | None, what: str, required) -> pd.DataFrame | None:
    """A CSV with the ``required`` columns; None for no path or an empty file; ReportInputError naming the file."""
    if path is None or str(path) == "":
        return None
    path = Path(path)
    _check_exists(path, what)
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ReportInputError(f"cannot parse {what} {path}: {err}") from err
    missing = [col for col in required if col not in df.columns]
    if missing:
        raise ReportInputError(f"{what} {path} lacks column(s) {', '.join(missing)} (see docs/FORMATS.md)")
    return df


def load_evaluations(path: str | os.PathLike | None) -> pd.DataFrame:
    """``summary/evaluations.csv``: one row per evaluation file at the reporting thresholds (``None``: empty).

    Columns: :data:`EVAL_REQUIRED_ATTRS` and :data:`EVAL_OPTIONAL_ATTRS` (NaN where absent), plus ``path``.
    """
    df = _read_table(path, "evaluation summary", EVAL_REQUIRED_ATTRS)
    if df is None:
        return pd.DataFrame(columns=list(EVAL_COLUMNS))
    for key in EVAL_OPTIONAL_ATTRS + ("path",):
        if key not in df.columns:
            df[key] = np.nan
    df = df[list(EVAL_COLUMNS)].copy()
    for col in ("mig", "mse", "dead_pct", "specialized", "latent_dead_pct", "latent_specialized",
                "dead_threshold", "specialization_threshold", "specialized_topk", "specialized_pre_topk",
                "active_topk", "active_pre_topk", "h_min", "bound_topk", "bound_pre_topk", "specialized_bound",
                "dead_floor"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    for col in ("k", "k_latent", "n_neurons", "n_latent_neurons", "n_bins"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df = _normalise_dtypes(df)
    dup = df.duplicated(["dataset", "seed", "phase"], keep=False)
    if dup.any():
        rows = ", ".join(f"{r.dataset}/seed{r.seed}/{r.phase}" for r in df[dup].itertuples())
        raise ReportInputError(f"{path}: several rows for the same (dataset, seed, phase): {rows}")
    return df.reset_index(drop=True)


def load_histories(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate epoch tables (``summary/history.csv``: the runs' history.csv with the threshold columns); keeps or
    adds a ``path`` column."""
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
        if "path" not in df.columns:
            df["path"] = str(path)
        frames.append(df)
    columns = list(HISTORY_COLUMNS) + ["path"]
    if not frames:
        return pd.DataFrame(columns=columns)
    out = pd.concat(frames, ignore_index=True)
    extra = [c for c in out.columns if c not in columns]
    out = out[columns + extra]
    for col in HISTORY_COLUMNS:
        if col not in _STR_COLS + ("seed",):
            out[col] = pd.to_numeric(out[col], errors="coerce")
    return _normalise_dtypes(out)


def load_sweep(path: str | os.PathLike | None) -> pd.DataFrame:
    """Read ``sweeps/thresholds.csv`` (long format). ``None`` gives an empty frame with the right columns."""
    df = _read_table(path, "threshold sweep file", SWEEP_COLUMNS)
    if df is None:
        return pd.DataFrame(columns=list(SWEEP_COLUMNS))
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


#: Suffix of the phase of the stage-3 warm-up evaluation point (``topk_warmup``): C3's alternative reference.
WARMUP = "_warmup"
_WARMUP_COLUMNS = ("mig", "mse", "dead_pct", "specialized", "latent_dead_pct", "latent_specialized", "k", "k_latent")


def warmup_scalars(histories: pd.DataFrame) -> pd.DataFrame:
    """One evaluation row per stage-3 run at the end of its warm-up, phase ``{method}_warmup``.

    The warm-up end is the last epoch of the unbroken run of epochs, from epoch 0, whose sparsity (k, k_latent,
    l1_lambda) equals epoch 0's: for Top-k the last epoch at k = k_start. Its row of ``summary/history.csv`` is the
    network evaluated on the same evaluation set, with the same code and thresholds, as the evaluation files.
    """
    rows = []
    if histories is None or histories.empty:
        return pd.DataFrame(columns=list(EVAL_COLUMNS) + ["epoch"])
    stage3 = histories[histories["stage"] == "sparsify"]
    for (dataset, seed, phase), run in stage3.groupby(["dataset", "seed", "phase"], sort=False):
        run = run.sort_values("epoch")
        key = run[["k", "k_latent", "l1_lambda"]].astype(float).fillna(-1.0).to_numpy()
        same = np.all(key == key[0], axis=1)
        last = int(np.argmin(same)) - 1 if not same.all() else len(run) - 1
        row = run.iloc[max(last, 0)]
        out = {col: row.get(col, np.nan) for col in _WARMUP_COLUMNS}
        out.update(dataset=dataset, seed=int(seed), phase=f"{phase}{WARMUP}", method=row.get("method"),
                   epoch=int(row["epoch"]), path=row.get("path"))  # fmt: skip
        rows.append(out)
    return pd.DataFrame(rows)


#: The phase of the evaluation before any SAE step (stage 2's history row at epoch −1): the dead % at initialisation.
AT_INIT = "init_start"
#: What an at-initialisation point carries besides the evaluation columns: the SAE inputs' geometry and the dead %
#: on the centred inputs.
AT_INIT_COLUMNS = ("conv_input_gamma", "latent_input_gamma", "dead_pct_centred", "latent_dead_pct_centred")


def split_at_init(histories: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the training epochs, one evaluation row per run of its state before any SAE step, phase ``init_start``).

    Stage 2 evaluates the network once before its first optimizer step (epoch −1 of its history). Every per-epoch
    table and figure reads the training epochs (epoch ≥ 0) as before; the at-initialisation rows enter the report as
    evaluation points of their own, with the SAE inputs' geometry (:data:`AT_INIT_COLUMNS`)."""
    if histories is None or histories.empty:
        return histories, pd.DataFrame(columns=list(EVAL_COLUMNS) + ["epoch", *AT_INIT_COLUMNS])
    before = (histories["stage"] == "init") & (histories["epoch"] < 0)
    rows = []
    for row in histories[before].itertuples(index=False):
        r = row._asdict()
        out = {col: r.get(col, np.nan) for col in (*_WARMUP_COLUMNS, *AT_INIT_COLUMNS)}
        out.update(dataset=r["dataset"], seed=int(r["seed"]), phase=AT_INIT, method=r.get("method"),
                   epoch=int(r["epoch"]), path=r.get("path"))  # fmt: skip
        rows.append(out)
    return histories[~before].reset_index(drop=True), pd.DataFrame(rows)


def add_at_init(scalars: pd.DataFrame, at_init: pd.DataFrame) -> pd.DataFrame:
    """``scalars`` plus the :func:`split_at_init` rows (with their geometry columns)."""
    if at_init.empty:
        return scalars
    columns = list(scalars.columns) + [c for c in AT_INIT_COLUMNS if c not in scalars.columns]
    return pd.concat([scalars.reindex(columns=columns), at_init.reindex(columns=columns)], ignore_index=True)


def add_warmup(scalars: pd.DataFrame, histories: pd.DataFrame) -> pd.DataFrame:
    """``scalars`` plus the :func:`warmup_scalars` rows of ``histories`` (the report's evaluation points)."""
    warmup = warmup_scalars(histories)
    if warmup.empty:
        return scalars
    return pd.concat([scalars, warmup.reindex(columns=scalars.columns)], ignore_index=True)
