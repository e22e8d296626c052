"""Device selection: ``auto`` uses CUDA when available; asking for CUDA without one is an error.

torch is imported where a device is resolved, not with the module: jobs that only log their environment
(``global_metrics``) then start without it (about 1.3 s per job).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class DeviceError(RuntimeError):
    pass


def resolve_device(name: str = "auto", tf32: bool = True) -> torch.device:
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"config key device={name!r} asks for a GPU, but torch {torch.__version__} sees none "
                "(torch.cuda.is_available() is False). Use device: auto or device: cpu."
            )
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    elif name != "cpu":
        raise DeviceError(f"config key device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def deterministic_kernels() -> None:
    """Make every later torch op pick a deterministic kernel (warn where none exists), as
    ``torch.use_deterministic_algorithms(True, warn_only=True)`` does.

    That public call also imports ``torch._inductor`` to set inductor's own flag, which costs about 2 s per job
    and matters only to ``torch.compile``, which this project does not use. So the ATen flag is set directly when
    this torch has the setter, and the public call is the fallback.
    """
    import torch

    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        setter(True, warn_only=True)


JOB_VARIABLES = ("SLURM_JOB_ID", "SLURM_JOB_GPUS", "CUDA_VISIBLE_DEVICES", "HOSTNAME")


def job_environment() -> str:
    """The scheduler's view of this job (SLURM job id, allocated GPUs), for the job's log."""
    import os

    return " ".join(f"{name}={os.environ.get(name, '')}" for name in JOB_VARIABLES)
