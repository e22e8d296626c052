"""Shared fixtures: the tiny preset as plain params dicts, and small procedural datasets."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(preset: str | None = "tiny") -> dict:
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    if preset:
        cfg = deep_merge(cfg, yaml.safe_load((ROOT / f"workflow/presets/{preset}.yaml").read_text()))
    return cfg


def stage_params(cfg: dict) -> dict:
    """All sections a training stage may read (a superset of what each rule passes)."""
    return {
        "device": "cpu",
        "model": cfg["model"],
        "optim": cfg["optim"],
        "pretrain": cfg["pretrain"],
        "init": cfg["init"],
        "sparsify": cfg["sparsify"],
        "extend": cfg["extend"],
        "revival": cfg["revival"],
        "data": {"val_fraction": cfg["data"]["val_fraction"], "shapes3d_n_val": cfg["data"]["shapes3d_n_val"]},
        "eval": cfg["eval"],
    }


@pytest.fixture(scope="session")
def tiny_cfg() -> dict:
    return load_config("tiny")


@pytest.fixture(scope="session")
def dsprites_small(tmp_path_factory) -> Path:
    from vaesae.data.generate import make_procedural

    path = tmp_path_factory.mktemp("data") / "dsprites.h5"
    make_procedural("dsprites", path, subset=800, subset_seed=0)
    return path
