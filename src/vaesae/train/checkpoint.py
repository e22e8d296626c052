"""Atomic checkpoints, loaded with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path

import torch

from vaesae.io import atomic_path


class CheckpointError(RuntimeError):
    pass


def save_checkpoint(path: str | Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated or foreign file
        raise CheckpointError(f"checkpoint {path} cannot be loaded ({type(err).__name__}: {err})") from err
