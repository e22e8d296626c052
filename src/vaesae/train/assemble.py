"""One assembler for a run: the device, the data on it, the network and the checkpoint it starts from.

A training stage (``vaesae.train.loop.StageRunner``) and the final evaluation (``vaesae.cli.evaluate``) set up in
the same steps, here:

    device      ``resolve_device`` (config ``device``, ``optim.tf32``); ``deterministic``: deterministic kernels on
                the CPU (training: byte-identical histories on CPU; GPU runs keep the fast kernels)
    data        ``load_device_data``: the seed's split, the rows of ``part`` (``train``: the train split and the
                evaluation set; ``eval``: the evaluation set only), on the device
    model       ``HybridVAESAE(channels, model config)`` on the device; ``init_seed``: torch is seeded with it
                first (training: the initial weights); evaluation passes none (every weight comes from the checkpoint)
    checkpoint  ``load_checkpoint`` onto the device

The two paths differ only where these arguments say, so each makes the same RNG calls, in the same order, with the
same kernels and device placement as it would on its own. What a run takes out of its checkpoint stays with it: a
stage loads what its stage needs (``Stage.load``), the evaluation the whole network and its sparsifier.
"""

from __future__ import annotations

import torch

from vaesae.config.sections import DataSplitConfig, ModelConfig
from vaesae.data.device import DeviceData, load_device_data
from vaesae.device import deterministic_kernels, resolve_device
from vaesae.models.hybrid import HybridVAESAE
from vaesae.train.checkpoint import load_checkpoint


class RunAssembly:
    """The device and the data of one (dataset, seed) job; builds its network and loads its checkpoints there."""

    device: torch.device
    data: DeviceData

    def __init__(self, dataset_file: str, seed: int, *, device: str, tf32: bool, split: DataSplitConfig, n_eval: int,
                 part: str, deterministic: bool = False):  # fmt: skip
        self.device = resolve_device(device, tf32=tf32)
        if deterministic and self.device.type == "cpu":
            deterministic_kernels()
        self.data = load_device_data(dataset_file, seed, val_fraction=split.val_fraction,
                                     shapes3d_n_val=split.shapes3d_n_val, n_eval=n_eval, device=self.device,
                                     part=part)  # fmt: skip

    def model(self, cfg: ModelConfig, *, init_seed: int | None = None) -> HybridVAESAE:
        """A new network for the data's channels on the device; ``init_seed`` seeds torch before its weights."""
        if init_seed is not None:
            torch.manual_seed(init_seed)
        return HybridVAESAE(self.data.channels, cfg).to(self.device)

    def checkpoint(self, path: str) -> dict:
        """The checkpoint at ``path``, its tensors on the device."""
        return load_checkpoint(path, map_location=self.device)
