"""Apply the reporting thresholds to the raw measurements: one table of evaluations, one of epochs.

Training (``history.h5``) and the final evaluation (``eval/*.h5``, read with ``vaesae.evalfile``) store only raw
measurements: per-neuron activation rates and neuron x factor normalised MI matrices, for both readings of the SAE
activations (``topk``: ã after the sparsifier; ``pre_topk``: ReLU(pre)). This module, the ``summarize`` rule's stage
between evaluation and rendering, turns them into the counts the tables report:

    dead_pct     = 100 · #{i : rate_i(ã) < eval.dead_threshold} / M             (always on ã: what the SAE uses)
    specialized  = #{i : max_j nMI_i,j > eval.specialization_threshold}         (on eval.specialization_activations;
                   with eval.specialization_mi: nats, on raw MI_i,j = nMI_i,j · H(v_j) in nats)
    bound        = the most neurons the activation budget allows to be specialized (``vaesae.metrics.bound``)
    dead_floor   = the least dead % the budget Σ_i rate_i(ã) allows at eval.dead_threshold
                   (``vaesae.metrics.dead_floor``): what the metric forces, whatever training does

so editing a threshold or the reading reruns only this step and what renders from it, never training.
For the epochs it also tells what revival achieved: of the neurons re-initialised at the boundary after epoch e,
how many are alive (eval rate ≥ eval.dead_threshold) after epochs e+1 and e+5 (``reinit_alive_1``,
``reinit_alive_5``; NaN where the run ends first), and the dead % each SAE would have on its input centred over the
evaluation set (``dead_pct_centred``, ``latent_dead_pct_centred``; NaN in histories written before they existed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from vaesae.columns import EVALUATION_COLUMNS
from vaesae.evalfile import EvalFileError, measurement_keys, read_eval
from vaesae.metrics import dead_pct, factor_entropy, specialized_count
from vaesae.metrics.specialization import in_unit
from vaesae.metrics.bound import specialization_bound
from vaesae.metrics.dead_floor import dead_floor_pct
from vaesae.train.history import READING_SUFFIX, read_history

READINGS = tuple(READING_SUFFIX)
SUFFIX = READING_SUFFIX

THRESHOLD_COLUMNS = ("dead_pct", "specialized", "latent_dead_pct", "latent_specialized", "active", "dead_floor",
                     "reinit_alive_1", "reinit_alive_5", "dead_pct_centred", "latent_dead_pct_centred")  # fmt: skip

#: What the summary reads of an evaluation file (``vaesae.evalfile``): these root attributes, the factors and both
#: readings' measurements of both SAEs.
EVAL_ATTRS = ("dataset", "seed", "phase", "method", "k", "mig", "mse", "n_bins")
EVAL_DATASETS = (*measurement_keys(), "factors")


class SummaryInputError(ValueError):
    """A raw measurement file is missing or does not follow docs/FORMATS.md."""


def _check_reading(activations: str) -> str:
    if activations not in READINGS:
        raise ValueError(f"eval.specialization_activations must be one of {READINGS}, got {activations!r}")
    return activations


def _read_eval(path: Path) -> dict:
    try:
        return read_eval(path, attrs=EVAL_ATTRS, datasets=EVAL_DATASETS)
    except EvalFileError as err:
        raise SummaryInputError(str(err)) from err


def sae_counts(mi: dict, rates: np.ndarray, dead_threshold: float, specialization_threshold: float,
               activations: str) -> dict:
    """dead % (on ã's rates) and the specialized count of the configured reading; ``mi`` maps reading -> (M, F)."""
    return {"dead_pct": dead_pct(rates, dead_threshold),
            "specialized": int(specialized_count(mi[activations], specialization_threshold))}  # fmt: skip


def summarize_evaluations(paths: Iterable[str | Path], *, dead_threshold: float, specialization_threshold: float,
                          activations: str = "topk", mi_unit: str = "normalized") -> pd.DataFrame:
    """One row per evaluation file (columns :data:`EVALUATION_COLUMNS`); ``mi_unit`` (``eval.specialization_mi``):
    the specialization threshold is on normalised MI or on raw MI in nats."""
    _check_reading(activations)
    in_unit(np.zeros((1, 1)), np.ones(1), mi_unit)  # an unknown unit fails before any file is read
    rows = []
    for path in map(Path, paths):
        ev = _read_eval(path)
        a = ev["attrs"]
        entropy = factor_entropy(ev["factors"])
        for group in ("conv_sae", "latent_sae"):
            for name in ("mi", "mi_pre"):
                ev[group][name] = in_unit(ev[group][name], entropy, mi_unit)
        row = {key: a.get(key) for key in ("dataset", "seed", "phase", "method", "k", "k_latent", "n_neurons",
                                           "n_latent_neurons", "n_eval", "n_bins", "mig", "mse", "data_source",
                                           "data_description")}  # fmt: skip
        for group, prefix in (("conv_sae", ""), ("latent_sae", "latent_")):
            g = ev[group]
            counts = sae_counts({"topk": g["mi"], "pre_topk": g["mi_pre"]}, g["activation_rate"], dead_threshold,
                                specialization_threshold, activations)  # fmt: skip
            row[f"{prefix}dead_pct"] = counts["dead_pct"]
            row[f"{prefix}specialized"] = counts["specialized"]
        conv = ev["conv_sae"]
        n_neurons = int(conv["activation_rate"].shape[0])
        for reading in READINGS:
            sfx = SUFFIX[reading]
            row[f"specialized_{reading}"] = int(specialized_count(conv[f"mi{sfx}"], specialization_threshold))
            budget = float(np.sum(conv[f"activation_rate{sfx}"]))
            row[f"active_{reading}"] = budget
            # in nats, MI > τ needs h(p) + p·ln(n_bins) > τ: the bound with H_min = 1 nat
            b = specialization_bound(budget, specialization_threshold,
                                     ev["factors"] if mi_unit == "normalized" else 1.0, int(a["n_bins"]), n_neurons)
            row[f"bound_{reading}"] = b.bound
            row["h_min"] = b.h_min
        row["specialized_bound"] = row[f"bound_{activations}"]
        row["dead_floor"] = dead_floor_pct(float(np.sum(conv["activation_rate"])), n_neurons, dead_threshold)
        row.update(dead_threshold=dead_threshold, specialization_threshold=specialization_threshold,
                   specialization_activations=activations, specialization_mi=mi_unit, path=str(path))  # fmt: skip
        rows.append(row)
    df = pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS))
    dup = df.duplicated(["dataset", "seed", "phase"], keep=False)
    if dup.any():
        raise SummaryInputError(f"several evaluation files for the same (dataset, seed, phase): "
                                f"{', '.join(df.loc[dup, 'path'])}")  # fmt: skip
    return df


def _alive_after(reinit: np.ndarray, rates: np.ndarray, threshold: float, lag: int) -> np.ndarray:
    """Per epoch e: of the neurons flagged in reinit[e], how many have rates[e + lag] ≥ threshold (NaN past the end,
    0 rows where none were flagged give 0)."""
    n = reinit.shape[0]
    out = np.full(n, np.nan)
    for e in range(n):
        if e + lag < n:
            flagged = reinit[e].astype(bool)
            out[e] = float(np.count_nonzero(rates[e + lag][flagged] >= threshold))
    return out


def summarize_history(csv_path: str | Path, raw_path: str | Path, *, dead_threshold: float,
                      specialization_threshold: float, activations: str = "topk",
                      mi_unit: str = "normalized") -> pd.DataFrame:
    """history.csv of one run with the threshold columns (:data:`THRESHOLD_COLUMNS`) from its history.h5."""
    _check_reading(activations)
    in_unit(np.zeros((1, 1)), np.ones(1), mi_unit)
    csv_path, raw_path = Path(csv_path), Path(raw_path)
    if not csv_path.is_file():
        raise SummaryInputError(f"history file not found: {csv_path}")
    try:
        df = pd.read_csv(csv_path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise SummaryInputError(f"cannot parse history file {csv_path}: {err}") from err
    try:
        raw = read_history(raw_path)
    except ValueError as err:
        raise SummaryInputError(str(err)) from err
    if len(raw.get("epoch", [])) != len(df):
        raise SummaryInputError(f"{raw_path} has {len(raw.get('epoch', []))} epochs, {csv_path} has {len(df)} rows: "
                                "they are not the same run")  # fmt: skip
    for col in THRESHOLD_COLUMNS:
        df[col] = np.nan
    sfx = SUFFIX[activations]
    for sae, prefix in (("conv_sae", ""), ("latent_sae", "latent_")):
        if f"{sae}/activation_rate" not in raw:
            continue  # VAE pretraining: no SAE
        rates, mi = raw[f"{sae}/activation_rate"], raw[f"{sae}/mi{sfx}"]
        if mi_unit != "normalized":
            if "factor_entropy" not in raw["attrs"]:
                raise SummaryInputError(f"{raw_path} has no factor_entropy attribute (written since raw MI in nats "
                                        "exists): retrain, or use eval.specialization_mi: normalized")
            mi = [in_unit(m, raw["attrs"]["factor_entropy"], mi_unit) for m in mi]
        df[f"{prefix}dead_pct"] = [dead_pct(r, dead_threshold) for r in rates]
        if f"{sae}/activation_rate_centred" in raw:
            df[f"{prefix}dead_pct_centred"] = [dead_pct(r, dead_threshold) for r in raw[f"{sae}/activation_rate_centred"]]
        df[f"{prefix}specialized"] = [int(specialized_count(m, specialization_threshold)) for m in mi]
        if sae == "conv_sae":
            df["active"] = raw[f"{sae}/active{sfx}"]
            df["dead_floor"] = [dead_floor_pct(float(np.sum(r)), len(r), dead_threshold) for r in rates]
    if "revival/reinit" in raw:
        reinit, rates = raw["revival/reinit"], raw["conv_sae/activation_rate"]
        df["reinit_alive_1"] = _alive_after(reinit, rates, dead_threshold, 1)
        df["reinit_alive_5"] = _alive_after(reinit, rates, dead_threshold, 5)
    df["path"] = str(csv_path)
    return df


def summarize_histories(csv_paths: Sequence[str | Path], *, dead_threshold: float, specialization_threshold: float,
                        activations: str = "topk", mi_unit: str = "normalized") -> pd.DataFrame:
    """Every run's epochs (each history.csv with the history.h5 next to it), concatenated."""
    frames = [summarize_history(p, Path(p).with_suffix(".h5"), dead_threshold=dead_threshold,
                                specialization_threshold=specialization_threshold, activations=activations,
                                mi_unit=mi_unit)
              for p in csv_paths]  # fmt: skip
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True, sort=False)
