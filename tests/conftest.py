"""Shared fixtures: the tiny preset as plain params dicts, and small procedural datasets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


STAGE_RULE = {"pretrain": "pretrain_vae", "init": "init_sae", "sparsify": "sparsify", "extend": "extend"}


def load_config(preset: str | None = "tiny", **overrides) -> dict:
    """config.yaml (+ a preset, + overrides), prepared exactly as the Snakefile prepares it (schema defaults, checks)."""
    from vaesae.workflow import load_config as load

    files = [ROOT / f"workflow/presets/{preset}.yaml"] if preset else []
    return load(*files, overrides=overrides, root=ROOT)


def stage_params(cfg: dict, stage: str, method: str | None = None, device: str = "cpu") -> dict:
    """The ``--params`` a training rule passes for ``stage`` (the workflow's own builder), on ``device``."""
    from vaesae.workflow import rule_params

    return dict(rule_params(cfg, STAGE_RULE[stage], method=method), device=device)


def shared_stages(cfg: dict, dataset_file, out, seed: int):
    """Stages 1-2 (pretrain, init: shared by every method) into ``out/{pretrain,init}/``; returns ``out``."""
    from vaesae.config.sections import StageConfig
    from vaesae.train.loop import StageRunner

    for stage, init in (("pretrain", None), ("init", out / "pretrain/model.pt")):
        StageRunner(StageConfig.from_params(stage, stage_params(cfg, stage)), dataset_file=str(dataset_file), seed=seed,
                    out_model=str(out / stage / "model.pt"), out_history=str(out / stage / "history.csv"),
                    init_checkpoint=None if init is None else str(init), progress=False).run()  # fmt: skip
    return out


@pytest.fixture(scope="session")
def tiny_cfg() -> dict:
    return load_config("tiny")


@pytest.fixture(scope="session")
def dsprites_small(tmp_path_factory) -> Path:
    from vaesae.data.generate import make_procedural

    path = tmp_path_factory.mktemp("data") / "dsprites.h5"
    make_procedural("dsprites", path, subset=800, subset_seed=0)
    return path


def write_dataset(path, *, images, factors, factor_values, index, name, factor_names, factor_sizes, source,
                  description, n_total, checksum="") -> None:  # fmt: skip
    """Arrays already in memory as one canonical file, through the package's only writer (write_dataset_chunked)."""
    import numpy as np

    from vaesae.data.canonical import write_dataset_chunked

    images = np.asarray(images)
    write_dataset_chunked(path, n=len(images), channels=images.shape[-1] if images.ndim == 4 else 0,
                          chunks=[(images, np.asarray(factors), np.asarray(factor_values), np.asarray(index))],
                          name=name, factor_names=factor_names, factor_sizes=factor_sizes, source=source,
                          description=description, n_total=n_total, checksum=checksum)  # fmt: skip
