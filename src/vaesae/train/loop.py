"""One generic training loop for the four stages (``vaesae.train.stages``).

    pretrain  stage 1: VAE only, L = R + β(e)·KL_fb, β cosine-ramped
    init      stage 2: VAE frozen, L = Σ_SAE ‖h − ĥ‖² + λ·‖ã‖₁ at k = k_start
    sparsify  stage 3: joint, L = R + KL_fb (β = 1) + L_SAE,conv + L_SAE,latent (+ aux), the method's sparsifier
    extend    stage 3 continued at the sparsifier's final sparsity from the method's stage-3 checkpoint

The loop owns what is common: epochs and batches, the NaN check, the history rows, resume checkpoints and the
outputs; the step itself (loss accumulation on the device, no host sync, eager or replayed as a CUDA graph) is
``vaesae.train.step``; the stage object owns the rest. Every epoch ends with an evaluation of the network as it came
out of training on the fixed evaluation set (a row of ``history.csv`` and the epoch's raw measurements in
``history.h5``, ``vaesae.train.history``). After an epoch that ends at least ``checkpoint_minutes`` after the last
resume checkpoint (or the job's start) an atomic resume checkpoint is written next to the outputs, so a killed job
restarts from its last checkpointed epoch and loses at most that many minutes. Anything that changes the network
between epochs (revival) runs at the start of the next epoch, never between training and evaluation. Each epoch
reseeds torch from (seed, stage, epoch), so a resumed run draws the same batches and noise as an uninterrupted one.

A job that ``device: auto`` puts on the CPU because torch sees no GPU stops at once when its work would take more
than about an hour there (``vaesae.train.cost``); ``device: cpu`` insists.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from vaesae import methods as method_table
from vaesae.config.sections import StageConfig
from vaesae.evaluation import DIAGNOSTICS, forward_eval, measure
from vaesae.io import atomic_path
from vaesae.metrics.mutual_info import factor_entropy
from vaesae.models.hybrid import count_parameters
from vaesae.train.assemble import RunAssembly
from vaesae.train.checkpoint import load_checkpoint, save_checkpoint
from vaesae.train.cost import check_cpu_fallback, training_flops
from vaesae.train.history import AT_INIT_EPOCH, HistoryParts, flatten
from vaesae.train.stages import STAGES as STAGE_CLASSES
from vaesae.train.step import make_stepper

log = logging.getLogger("vaesae.train")

STAGE_SEED_OFFSET = {"pretrain": 0, "init": 1, "sparsify": 2, "extend": 3}
HISTORY_COLUMNS = [
    "dataset", "seed", "phase", "stage", "method", "epoch", "k", "k_latent", "l1_lambda", "beta",
    "loss", "loss_vae", "loss_sae_conv", "loss_sae_latent", "recon", "kl", "loss_aux", "l0", "l0_latent", "mig",
    "mse", "boosted", "boost_mean", "boost_to_spread", "reinit", *DIAGNOSTICS, "seconds",
]  # fmt: skip
#: The diagnostics (``vaesae.evaluation.DIAGNOSTICS``: ‖h_flat‖ mean and std, the conv SAE's decoder column norms
#: min/median/max, mean ‖ã‖₁) come from the epoch's evaluation pass, not from the training step (no host sync there).
#: history.csv holds no thresholded count: dead and specialized neurons are computed downstream from history.h5.
#: A method's own auxiliary loss terms (``loss_aux`` is their sum) are kept in history.h5 under ``scalars/``.


class NonFiniteLossError(RuntimeError):
    pass


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _epoch_seed(seed: int, stage: str, epoch: int) -> int:
    return (seed * 1_000_003 + STAGE_SEED_OFFSET[stage] * 10_007 + epoch) % (2**63 - 1)


#: Seeds the draw of revival's spread probe with the run's seed (a generator of its own: the global RNG is untouched).
PROBE_SEED_OFFSET = 7_919
#: Seeds the draw of the batch a stage prepares from (``Stage.prepare``: b_dec of the centred reading).
PREPARE_SEED_OFFSET = 104_729


def probe_indices(n: int, size: int, seed: int) -> torch.Tensor:
    """The evaluation images of revival's spread probe: ``min(size, n)`` distinct indices drawn at random from
    ``range(n)`` by a CPU generator seeded from the run's ``seed`` (the same in every stage, on every device, and
    after a resume), in increasing order. The evaluation set is sorted by factor, so its first images would be one
    corner of the factor grid (on dSprites: squares at the two smallest scales)."""
    gen = torch.Generator().manual_seed(PROBE_SEED_OFFSET + int(seed))
    return torch.randperm(n, generator=gen)[: min(size, n)].sort().values


def phase_of(stage: str, method: str) -> str:
    """The run's phase (its folder and ``history.csv`` phase): vae, init, the method, or ``{method}_extended``."""
    if stage == "extend":
        return method_table.get(method).extended_phase
    return {"pretrain": "vae", "init": "init"}.get(stage, method)


class StageRunner:
    """Runs one stage for one (dataset, seed[, method]) and writes ``model.pt`` and ``history.csv``; ``config`` (the
    stage, its method and its typed sections) is built by the entry point (``StageConfig.from_params``)."""

    def __init__(
        self,
        config: StageConfig,
        *,
        dataset_file: str,
        seed: int,
        out_model: str,
        out_history: str,
        out_raw: str | None = None,
        init_checkpoint: str | None = None,
        phase: str | None = None,
        threads: int = 0,
        checkpoint_minutes: float = 10.0,
        progress: bool = True,
        clock=time.monotonic,
        graph_backend=None,
    ):
        if not isinstance(config, StageConfig):
            raise TypeError(f"StageRunner needs a StageConfig (StageConfig.from_params), got {type(config).__name__}")
        stage, method = config.stage, config.method
        if not checkpoint_minutes >= 0:
            raise ValueError(f"checkpoint_minutes must be a number of minutes >= 0, got {checkpoint_minutes}")
        self.checkpoint_minutes, self.clock, self.graph_backend = float(checkpoint_minutes), clock, graph_backend
        if stage != "pretrain" and init_checkpoint is None:
            raise ValueError(f"stage {stage} needs the previous stage's checkpoint")
        self.cfg = config
        self.stage_name, self.seed, self.method = stage, seed, method
        self.out_model, self.out_history = Path(out_model), Path(out_history)
        self.out_raw = Path(out_raw) if out_raw else self.out_history.with_suffix(".h5")
        self.resume_path = self.out_model.with_name(self.out_model.name + ".resume")
        self.parts = HistoryParts(self.out_model.with_name(self.out_model.name + ".history-parts"))
        self.init_checkpoint = init_checkpoint
        self.progress = progress
        if threads:
            torch.set_num_threads(threads)
        # byte-identical histories on CPU (deterministic kernels); GPU runs keep the fast kernels
        self.assembly = RunAssembly(dataset_file, seed, device=self.cfg.device, tf32=self.cfg.optim.tf32,
                                    split=self.cfg.data, n_eval=self.cfg.monitor.n_samples, part="train",
                                    deterministic=True)  # fmt: skip
        self.device, self.data = self.assembly.device, self.assembly.data
        self.phase = phase or phase_of(stage, method)
        self.epochs = self.cfg.epochs
        check_cpu_fallback(
            self.cfg.device, self.device, f"stage {stage} ({self.data.name}, seed {seed}, method {method}, "
            f"{self.epochs} epochs)", self.work_flops())  # fmt: skip
        self.eval_images = self.data.eval_images()
        self.eval_factors = self.data.eval_factors()
        self.probe_idx = probe_indices(len(self.eval_images), self.cfg.monitor.batch_size, seed)
        self.probe_u8 = self.eval_images[self.probe_idx.to(self.eval_images.device)]  # revival's spread probe
        self._build()
        self.fp = fingerprint({"seed": seed, "config": dataclasses.asdict(config), "init": str(init_checkpoint)})

    # ------------------------------------------------------------------ set-up
    def _build(self) -> None:
        self.model = self.assembly.model(self.cfg.model, init_seed=_epoch_seed(self.seed, self.stage_name, -1))
        self.stage = STAGE_CLASSES[self.stage_name](self.cfg, self.model, self.device, self.data.channels)
        start = None
        if self.init_checkpoint is not None:
            start = self.assembly.checkpoint(self.init_checkpoint)
        self.stage.load(start)
        self.trainable = self.stage.trainable()
        extra = self.stage.extra_param_groups()
        optim = self.cfg.optim
        lr = optim.lr_for(self.stage_name)
        self.optimizer = torch.optim.AdamW(
            [{"params": self.trainable}, *extra],
            lr=lr,
            betas=optim.betas,
            weight_decay=optim.weight_decay,
            fused=self.device.type == "cuda",
            capturable=self.capturable,
        )
        self.trainable = [p for group in self.optimizer.param_groups for p in group["params"]]
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        self.stage.restore(self.optimizer, start)
        for group, group_lr in zip(self.optimizer.param_groups, lrs):  # a restored optimizer runs at this stage's
            group["lr"] = group_lr  # learning rates
        self._make_capturable()
        self.stepper = make_stepper(self.stage, self.optimizer, self.trainable, optim, self.device,
                                    backend=self.graph_backend)  # fmt: skip
        log.info(
            "%s %s seed %d: %d trainable / %d total parameters (VAE %d, conv SAE %d, latent SAE %d) on %s",
            self.stage_name,
            self.data.name,
            self.seed,
            sum(t.numel() for t in self.trainable),
            count_parameters(self.model),
            count_parameters(self.model.vae),
            count_parameters(self.model.conv_sae),
            count_parameters(self.model.latent_sae),
            self.device,
        )

    @property
    def capturable(self) -> bool:
        """AdamW keeps its step count on the device, so that a CUDA graph can replay the step (CUDA graphs on)."""
        return self.device.type == "cuda" and self.cfg.optim.cuda_graphs

    def _make_capturable(self) -> None:
        """Every AdamW group as capturable as this run needs, whatever a restored state said, and a capturable
        group's step counts on the parameters' device (a restored state brings them as host tensors)."""
        for group in self.optimizer.param_groups:
            group["capturable"] = self.capturable
            if not self.capturable:
                continue
            for p in group["params"]:
                state = self.optimizer.state.get(p)
                if state and "step" in state:
                    state["step"] = state["step"].to(device=p.device, dtype=torch.float32)

    def work_flops(self) -> float:
        """FLOP of this job's training epochs (``vaesae.train.cost``)."""
        bs = self.cfg.optim.batch_size
        images = max(1, len(self.data.train_idx) // bs) * bs
        return training_flops(self.stage_name, self.cfg.model, self.data.channels, images, self.epochs)

    # ------------------------------------------------------------------ one epoch
    def train_epoch(self, epoch: int) -> dict:
        """Train one 0-based epoch; returns its history fields (mean loss terms, sparsity, β, re-initialised)."""
        optim = self.cfg.optim
        torch.manual_seed(_epoch_seed(self.seed, self.stage_name, epoch))
        sparsity = self.stage.sparsity(epoch)
        beta = self.stage.beta(epoch)
        bs = optim.batch_size
        n_steps = max(1, len(self.data.train_idx) // bs)  # drop the last partial batch
        samples = min(n_steps * bs, len(self.data.train_idx))
        self.stage.start_epoch(self.optimizer, self.probe_u8.float().div(255.0), sparsity, samples)
        self.model.train()
        perm = self.data.train_idx[torch.randperm(len(self.data.train_idx), device=self.device)]
        self.stepper.begin_epoch()
        self.stepper.run_epoch(lambda i: self.data.batch(perm[i * bs : (i + 1) * bs]), n_steps, sparsity, beta,
                               key=(tuple(sparsity), beta, samples))  # fmt: skip
        names, sums, bad_step = self.stepper.end_epoch()
        if bad_step >= 0:
            raise NonFiniteLossError(
                f"non-finite loss in stage {self.stage_name} ({self.data.name}, seed {self.seed}, method "
                f"{self.method}) at epoch {epoch}, step {bad_step}; no output was written"
            )
        row = dict(zip(names, (sums / n_steps).tolist()))
        record = self.stage.end_epoch()
        if record is not None:
            row.update(record.summary(), revival_record=record)
        row.update(k=sparsity.k, k_latent=sparsity.k_latent, l1_lambda=sparsity.l1, beta=beta)
        return row

    def evaluate(self, k, k_lat) -> dict:
        self.model.eval()
        mon = self.cfg.monitor
        out = forward_eval(self.model, self.eval_images, k, k_lat, mon.batch_size, with_sae=self.stage.with_sae,
                           activate=self.stage.activate)  # fmt: skip
        return measure(out, self.eval_factors, n_bins=mon.n_bins)

    def raw_attrs(self) -> dict:
        """Root attributes of history.h5 (docs/FORMATS.md)."""
        return {"dataset": self.data.name, "seed": self.seed, "phase": self.phase, "stage": self.stage_name,
                "method": self.method, "n_eval": len(self.eval_factors), "n_bins": self.cfg.monitor.n_bins,
                "factor_names": list(self.data.factor_names), "factor_entropy": factor_entropy(self.eval_factors),
                "data_source": self.data.source, "data_description": self.data.description}  # fmt: skip

    def prepare_batch(self) -> torch.Tensor:
        """``optim.batch_size`` training images drawn at random by a CPU generator seeded from the run's seed (the
        global RNG is untouched): what ``Stage.prepare`` sets data-dependent starting values from."""
        gen = torch.Generator().manual_seed(PREPARE_SEED_OFFSET + int(self.seed))
        pick = torch.randperm(len(self.data.train_idx), generator=gen)[: self.cfg.optim.batch_size]
        return self.data.batch(self.data.train_idx[pick.to(self.data.train_idx.device)])

    def at_init_row(self) -> tuple[dict, dict]:
        """The network before its first optimizer step, evaluated as every epoch is: (history row of epoch
        AT_INIT_EPOCH with NaN loss terms, raw measurements)."""
        t0 = time.perf_counter()
        sparsity = self.stage.sparsity(0)
        metrics = self.evaluate(sparsity.k, sparsity.k_latent)
        row = dict(k=sparsity.k, k_latent=sparsity.k_latent, l1_lambda=sparsity.l1, beta=self.stage.beta(0),
                   mig=metrics["mig"], mse=metrics["mse"], **{c: metrics[c] for c in DIAGNOSTICS},
                   dataset=self.data.name, seed=self.seed, phase=self.phase, stage=self.stage_name,
                   method=self.method, epoch=AT_INIT_EPOCH, seconds=time.perf_counter() - t0)  # fmt: skip
        return {c: row.get(c) for c in HISTORY_COLUMNS}, metrics

    # ------------------------------------------------------------------ run
    def _resume(self) -> tuple[int, list[dict]]:
        if not self.resume_path.exists():
            return 0, []
        # Onto the host: the RNG state must stay a CPU ByteTensor (torch.set_rng_state rejects any other device);
        # load_state_dict moves the model's, AdamW's, revival's and the sparsifier's tensors where they belong.
        state = load_checkpoint(self.resume_path, map_location="cpu")
        if state.get("fingerprint") != self.fp:
            log.warning("ignoring %s: it belongs to a different configuration", self.resume_path)
            self.parts.clear()
            return 0, []
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._make_capturable()
        self.stage.load_resume_state(state)
        torch.set_rng_state(state["rng_cpu"])
        self.parts.keep_before(int(state["epoch"]))
        log.info("resuming %s from %s after epoch %d", self.stage_name, self.resume_path, state["epoch"] - 1)
        return int(state["epoch"]), list(state["history"])

    def checkpoint_due(self, epoch: int, now: float) -> bool:
        """A resume checkpoint after 0-based ``epoch`` ending at time ``now`` (seconds, ``clock``): when at least
        ``checkpoint_minutes`` have passed since the last one (or the job's start; 0: after every epoch), never
        after the last epoch (``model.pt`` follows at once)."""
        return epoch + 1 < self.epochs and now - self._last_checkpoint >= 60.0 * self.checkpoint_minutes

    def resume_payload(self, epoch: int, rows: list[dict]) -> dict:
        """What a killed job resumes from after 0-based ``epoch``: model, AdamW, the stage's state, RNG, history."""
        return {
            "fingerprint": self.fp,
            "epoch": epoch + 1,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            **self.stage.resume_state(),
            "rng_cpu": torch.get_rng_state(),
            "history": rows,
        }

    def run(self, stop_after: int | None = None) -> pd.DataFrame:
        """Train all epochs (``stop_after`` ends early without writing outputs: used to test resumption)."""
        start_epoch, rows = self._resume()
        self._last_checkpoint = self.clock()
        if start_epoch == 0:
            self.parts.clear()
            self.stage.prepare(self.prepare_batch)
            if self.stage.at_init:  # stage 2: the state before any SAE step, epoch -1
                row, metrics = self.at_init_row()
                rows = [row]
                self.parts.write(AT_INIT_EPOCH, flatten(metrics), row)
                log.info("before the first step: %s", {c: row[c] for c in HISTORY_COLUMNS[5:] if row[c] is not None})
        bar = tqdm(
            range(start_epoch, self.epochs),
            desc=f"{self.stage_name} {self.data.name} s{self.seed} {self.method}",
            disable=not self.progress,
            mininterval=2.0,
        )
        for epoch in bar:
            t0 = time.perf_counter()
            row = self.train_epoch(epoch)
            metrics = self.evaluate(row["k"], row["k_latent"])
            record = row.pop("revival_record", None)
            row.update(mig=metrics["mig"], mse=metrics["mse"], **{c: metrics[c] for c in DIAGNOSTICS})
            row.update(
                dataset=self.data.name,
                seed=self.seed,
                phase=self.phase,
                stage=self.stage_name,
                method=self.method,
                epoch=epoch,
                seconds=time.perf_counter() - t0,
            )
            rows.append({c: row.get(c) for c in HISTORY_COLUMNS})
            self.parts.write(epoch, flatten(metrics, record), {**row, **rows[-1]})
            bar.set_postfix(loss=f"{row['loss']:.4g}", mig=f"{row['mig']:.3f}")
            log.info("epoch %d: %s", epoch, {c: rows[-1][c] for c in HISTORY_COLUMNS[5:] if rows[-1][c] is not None})
            now = self.clock()
            if self.checkpoint_due(epoch, now):
                save_checkpoint(self.resume_path, self.resume_payload(epoch, rows))
                self._last_checkpoint = now
            if stop_after is not None and epoch + 1 >= stop_after:
                return pd.DataFrame(rows, columns=HISTORY_COLUMNS)
        history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
        save_checkpoint(self.out_model, self.stage.payload(self.stage.sparsity(self.epochs - 1), self.optimizer))
        self.parts.assemble(self.out_raw, self.epochs, self.raw_attrs(),
                            first=AT_INIT_EPOCH if self.stage.at_init else 0)
        with atomic_path(self.out_history) as tmp:
            history.to_csv(tmp, index=False, float_format="%.10g")
        self.resume_path.unlink(missing_ok=True)
        self.parts.clear()
        return history
