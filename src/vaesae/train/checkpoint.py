"""Atomic checkpoints, loaded with ``weights_only=True``."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import torch

from vaesae.io import atomic_path


class CheckpointError(RuntimeError):
    pass


FULL_DISK_BYTES = 1 << 20  # less than this left after a failed write: report a full disk


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically.

    torch.save reports a full disk only as "enforce fail ... unexpected pos"; that case is raised as
    ``OSError(ENOSPC)`` naming the file and the space left.
    """
    with atomic_path(path) as tmp:
        try:
            torch.save(payload, tmp)
        except RuntimeError as err:
            free = shutil.disk_usage(tmp.parent).free
            if free < FULL_DISK_BYTES:
                raise OSError(
                    errno.ENOSPC,
                    f"No space left on device: writing checkpoint {path} failed with {free} bytes free on "
                    f"{tmp.parent} (torch: {err})",
                ) from err
            raise


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated or foreign file
        raise CheckpointError(f"checkpoint {path} cannot be loaded ({type(err).__name__}: {err})") from err
