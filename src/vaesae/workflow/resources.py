"""Memory and run time of each job (:func:`rule_resources`), sized from the dataset and the epoch counts."""

from __future__ import annotations

import math

from vaesae.workflow.closure import RULES, TRAINING_RULES


#: Seconds per training image per epoch on one GPU for the paper model (8,192 x 4,096 conv SAE): the paper's
#: 24 s per 590k-image stage-3 epoch on an RTX 5090 (Table 7) is 4.1e-5; this allows 2.5x that.
GPU_SECONDS_PER_IMAGE_EPOCH = 1.0e-4
GRID_SIZE = {"dsprites": 737_280, "shapes3d": 480_000}
CHANNELS = {"dsprites": 1, "shapes3d": 3}


def n_images(cfg: dict, dataset: str) -> int:
    subset = cfg["data"]["subset"]
    return min(subset, GRID_SIZE[dataset]) if subset else GRID_SIZE[dataset]


def dataset_mb(cfg: dict, dataset: str) -> float:
    """Size of the images as uint8 in memory (MB)."""
    return n_images(cfg, dataset) * 64 * 64 * CHANNELS[dataset] / 1e6


def model_size(cfg: dict) -> float:
    """Relative cost of the model against the paper's (conv SAE neurons x h_flat, which dominates)."""
    m = cfg["model"]
    h_dim = m["h_channels"] * (64 // 2 ** len(m["encoder_channels"])) ** 2
    return m["conv_sae_neurons"] * h_dim / (8192 * 4096)


def rule_resources(cfg: dict, rule: str, dataset: str | None = None, attempt: int = 1) -> dict[str, int]:
    """``mem_mb`` and ``runtime`` (minutes) of one job; a retried job (``attempt`` 2, 3, ...) gets that many times
    more. Training holds the images twice on the host while they go to the device, the model with its AdamW state
    and checkpoints (about 1.1 GB at paper scale) and torch itself (about 1.5 GB)."""
    if rule in TRAINING_RULES or rule == "evaluate":
        stage, size = RULES[rule].stage, model_size(cfg)
        epochs = cfg[stage]["epochs"] if stage else 1  # an evaluation is one pass
        mem = 2000 + 2 * dataset_mb(cfg, dataset) + 3000 * size
        seconds = epochs * n_images(cfg, dataset) * GPU_SECONDS_PER_IMAGE_EPOCH * max(size, 0.05)
        minutes = 15 + 2 * seconds / 60
    elif rule == "dataset":
        mem, minutes = 1500 + min(dataset_mb(cfg, dataset), 6000), 60
    elif rule == "global_metrics":
        mem, minutes = 2000, 30 + 2 * cfg["eval"]["n_samples"] / 10_000 * 10  # BENCHMARKS: ~4 min per 10k (gbt)
    else:  # sweep, rendering, previews
        mem, minutes = 2000, 15
    return {"mem_mb": math.ceil(mem) * attempt, "runtime": math.ceil(minutes) * attempt}
