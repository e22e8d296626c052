"""The four training stages, one runner.

    pretrain  stage 1: VAE only, L = R + β(e)·KL_fb, β cosine-ramped
    init      stage 2: VAE frozen, L = Σ_SAE ‖h − ĥ‖² + λ·‖ã‖₁ at k = k_start
    sparsify  stage 3: joint, L = R + KL_fb (β = 1) + L_SAE,conv + L_SAE,latent, Top-k k(t) or L1 λ(t)
    extend    stage 3 continued at k = k_end from the Top-k checkpoint, optimizer and revival state included

Every epoch ends with an evaluation on the fixed evaluation set (a row of ``history.csv``) and an atomic resume
checkpoint next to the outputs, so a killed job restarts from its last complete epoch. Each epoch reseeds torch from
(seed, stage, epoch), so a resumed run draws the same batches and noise as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from vaesae.data.canonical import read_dataset
from vaesae.data.splits import make_splits
from vaesae.device import resolve_device
from vaesae.evaluation import forward_eval, measure
from vaesae.io import atomic_path
from vaesae.models.hybrid import HybridVAESAE, count_parameters
from vaesae.train import losses, schedules
from vaesae.train.checkpoint import load_checkpoint, save_checkpoint
from vaesae.train.revival import RevivalState, apply_bias_boost, end_of_epoch

log = logging.getLogger("vaesae.train")

STAGES = ("pretrain", "init", "sparsify", "extend")
STAGE_SEED_OFFSET = {"pretrain": 0, "init": 1, "sparsify": 2, "extend": 3}
HISTORY_COLUMNS = [
    "dataset", "seed", "phase", "stage", "method", "epoch", "k", "k_latent", "l1_lambda", "beta",
    "loss", "loss_vae", "loss_sae_conv", "loss_sae_latent", "recon", "kl",
    "dead_pct", "specialized", "latent_dead_pct", "latent_specialized", "mig", "mse", "reinit", "seconds",
]  # fmt: skip


class NonFiniteLossError(RuntimeError):
    pass


@dataclass
class DeviceData:
    """The whole dataset on the device as uint8, with the split indices; batches are indexed on the device."""

    name: str
    images: torch.Tensor  # (N, C, 64, 64) uint8
    factors: np.ndarray  # (N, F) int64, host
    train_idx: torch.Tensor
    eval_idx: torch.Tensor
    factor_names: list[str] = field(default_factory=list)

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    def eval_images(self) -> torch.Tensor:
        return self.images[self.eval_idx]

    def eval_factors(self) -> np.ndarray:
        return self.factors[self.eval_idx.cpu().numpy()]


def load_device_data(path: str, seed: int, data_cfg: dict, n_eval: int, device: torch.device) -> DeviceData:
    ds = read_dataset(path)
    train_idx, _, eval_idx = make_splits(
        ds.name,
        len(ds.images),
        seed=seed,
        val_fraction=data_cfg["val_fraction"],
        shapes3d_n_val=data_cfg["shapes3d_n_val"],
        n_eval=n_eval,
    )
    images = torch.from_numpy(ds.images).permute(0, 3, 1, 2).contiguous().to(device)
    return DeviceData(
        ds.name,
        images,
        ds.factors,
        torch.as_tensor(train_idx, device=device),
        torch.as_tensor(eval_idx, device=device),
        list(ds.factor_names),
    )


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _epoch_seed(seed: int, stage: str, epoch: int) -> int:
    return (seed * 1_000_003 + STAGE_SEED_OFFSET[stage] * 10_007 + epoch) % (2**63 - 1)


class StageRunner:
    """Runs one stage for one (dataset, seed[, method]) and writes ``model.pt`` and ``history.csv``."""

    def __init__(
        self,
        stage: str,
        *,
        dataset_file: str,
        seed: int,
        params: dict,
        out_model: str,
        out_history: str,
        init_checkpoint: str | None = None,
        method: str = "none",
        phase: str | None = None,
        threads: int = 0,
        progress: bool = True,
    ):
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        if stage != "pretrain" and init_checkpoint is None:
            raise ValueError(f"stage {stage} needs the previous stage's checkpoint")
        self.stage, self.seed, self.params, self.method = stage, seed, params, method
        self.out_model, self.out_history = Path(out_model), Path(out_history)
        self.resume_path = self.out_model.with_name(self.out_model.name + ".resume")
        self.init_checkpoint = init_checkpoint
        self.progress = progress
        if threads:
            torch.set_num_threads(threads)
        optim = params["optim"]
        self.device = resolve_device(params.get("device", "auto"), tf32=optim.get("tf32", True))
        if self.device.type == "cpu":  # byte-identical histories on CPU; GPU runs keep the fast kernels
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.data = load_device_data(dataset_file, seed, params["data"], params["eval"]["n_samples"], self.device)
        self.phase = phase or {"pretrain": "vae", "init": "init", "extend": "topk_extended"}.get(stage, method)
        self.stage_cfg = params[stage]
        self.epochs = int(self.stage_cfg["epochs"])
        self.eval_images = self.data.eval_images()
        self.eval_factors = self.data.eval_factors()
        self._build()
        self.fp = fingerprint(
            {"stage": stage, "seed": seed, "method": method, "params": params, "init": str(init_checkpoint)}
        )

    # ------------------------------------------------------------------ set-up
    def _build(self) -> None:
        torch.manual_seed(_epoch_seed(self.seed, self.stage, -1))
        p = self.params
        self.model = HybridVAESAE(self.data.channels, p["model"]).to(self.device)
        self.revival = RevivalState(p["model"]["conv_sae_neurons"], self.device)
        start = None
        if self.init_checkpoint is not None:
            start = load_checkpoint(self.init_checkpoint, map_location=self.device)
            if self.stage == "init":
                self.model.vae.load_state_dict(start["vae"])
            else:
                self.model.load_state_dict(start["model"])
        if self.stage == "pretrain":
            trainable = list(self.model.vae.parameters())
        elif self.stage == "init":
            self.model.vae.requires_grad_(False)
            trainable = list(self.model.conv_sae.parameters()) + list(self.model.latent_sae.parameters())
        else:
            trainable = list(self.model.parameters())
        self.trainable = trainable
        optim = p["optim"]
        lr = (optim.get("lr_per_stage") or {}).get(self.stage) or optim["lr"]
        self.optimizer = torch.optim.AdamW(
            trainable,
            lr=lr,
            betas=tuple(optim["betas"]),
            weight_decay=optim["weight_decay"],
            fused=self.device.type == "cuda",
        )
        if self.stage == "extend":
            self.optimizer.load_state_dict(start["optimizer"])
            self.revival.load_state_dict(start["revival"])
            for group in self.optimizer.param_groups:
                group["lr"] = lr
        self.n_params = count_parameters(self.model if self.stage != "pretrain" else self.model.vae)
        log.info(
            "%s %s seed %d: %d trainable / %d total parameters (VAE %d, conv SAE %d, latent SAE %d) on %s",
            self.stage,
            self.data.name,
            self.seed,
            sum(t.numel() for t in trainable),
            count_parameters(self.model),
            count_parameters(self.model.vae),
            count_parameters(self.model.conv_sae),
            count_parameters(self.model.latent_sae),
            self.device,
        )

    # ------------------------------------------------------------------ schedules
    def sparsity(self, epoch: int) -> tuple[int | None, int | None, float]:
        """(k, k_latent, λ) for a 0-based epoch of this stage."""
        p, m = self.params, self.params["model"]
        sp = p.get("sparsify", {})
        if self.stage == "pretrain":
            return None, None, 0.0
        if self.stage == "init":
            k = sp["k_start"]
            return k, schedules.latent_k(k, m["latent_sae_neurons"], m["conv_sae_neurons"]), p["init"]["l1_coeff"]
        if self.stage == "extend":
            k = sp["k_end"]
            return k, schedules.latent_k(k, m["latent_sae_neurons"], m["conv_sae_neurons"]), sp["topk_l1_coeff"]
        if self.method == "topk":
            k = schedules.k_schedule(
                epoch, self.epochs, sp["k_start"], sp["k_end"], sp["warmup_fraction"], sp["hold_fraction"]
            )
            return k, schedules.latent_k(k, m["latent_sae_neurons"], m["conv_sae_neurons"]), sp["topk_l1_coeff"]
        if self.method == "l1":
            return None, None, schedules.l1_schedule(epoch, self.epochs, sp["l1_start"], sp["l1_end"])
        raise ValueError(f"unknown method {self.method!r}")

    def beta(self, epoch: int) -> float:
        if self.stage == "pretrain":
            c = self.stage_cfg
            return schedules.beta_schedule(epoch, self.epochs, c["beta_start"], c["beta_end"])
        return 1.0

    # ------------------------------------------------------------------ one epoch
    def _loss(self, x: torch.Tensor, k, k_lat, l1: float, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        pre = self.params["pretrain"]
        zero = x.new_zeros(())
        if self.stage == "pretrain":
            h, mu, logvar, z, logits = self.model.vae(x)
            recon = losses.bernoulli_recon(logits, x)
            kl = losses.free_bits_kl(mu, logvar, pre["free_bits"], pre["free_bits_mode"])
            l_vae = recon + beta * kl
            return l_vae, torch.stack([l_vae, l_vae, zero, zero, recon.detach(), kl.detach()])
        if self.stage == "init":
            with torch.no_grad():
                h, mu, logvar, z, _ = self.model.vae(x)
            a, h_hat = self.model.conv_sae(h, k)
            a_l, z_hat = self.model.latent_sae(z, k_lat)
            l_conv = losses.sae_loss(h, h_hat, a, l1)
            l_lat = losses.sae_loss(z, z_hat, a_l, l1)
            loss = l_conv + l_lat
            self.revival.observe(a.detach())
            return loss, torch.stack([loss, zero, l_conv, l_lat, zero, zero])
        out = self.model(x, k, k_lat)
        recon = losses.bernoulli_recon(out.logits, x)
        kl = losses.free_bits_kl(out.mu, out.logvar, pre["free_bits"], pre["free_bits_mode"])
        l_vae = recon + beta * kl
        l_conv = losses.sae_loss(out.h, out.h_hat, out.a_conv, l1)
        l_lat = losses.sae_loss(out.z, out.z_hat, out.a_lat, l1)
        loss = l_vae + l_conv + l_lat
        self.revival.observe(out.a_conv.detach())
        return loss, torch.stack([loss, l_vae, l_conv, l_lat, recon.detach(), kl.detach()])

    def train_epoch(self, epoch: int) -> dict:
        p, optim = self.params, self.params["optim"]
        torch.manual_seed(_epoch_seed(self.seed, self.stage, epoch))
        k, k_lat, l1 = self.sparsity(epoch)
        beta = self.beta(epoch)
        rv = p.get("revival", {})
        stage3 = self.stage in ("sparsify", "extend")
        if stage3 and rv.get("bias_boost", False):
            apply_bias_boost(self.model.conv_sae, self.revival, rv["bias_base"], rv["bias_rate"])
        self.model.train()
        bs = optim["batch_size"]
        perm = self.data.train_idx[torch.randperm(len(self.data.train_idx), device=self.device)]
        n_steps = max(1, len(perm) // bs)  # drop the last partial batch
        sums = torch.zeros(6, dtype=torch.float64, device=self.device)
        first_bad = torch.full((), -1, dtype=torch.long, device=self.device)
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bool(optim.get("bf16", False)))
        for step in range(n_steps):
            x = self.data.images[perm[step * bs : (step + 1) * bs]].float().div_(255.0)
            with autocast:
                loss, terms = self._loss(x, k, k_lat, l1, beta)
            bad = ~torch.isfinite(loss)
            first_bad = torch.where(bad & (first_bad < 0), torch.full_like(first_bad, step), first_bad)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.trainable, optim["grad_clip"])
            self.optimizer.step()
            sums += terms.detach().double()
        bad_step = int(first_bad.item())
        if bad_step >= 0:
            raise NonFiniteLossError(
                f"non-finite loss in stage {self.stage} ({self.data.name}, seed {self.seed}, method {self.method}) "
                f"at epoch {epoch}, step {bad_step}; no output was written"
            )
        means = (sums / n_steps).tolist()
        n_reinit = 0
        if stage3:
            n_reinit = end_of_epoch(
                self.model.conv_sae,
                self.optimizer,
                self.revival,
                reinit=bool(rv.get("reinit", False)),
                dead_threshold=p["eval"]["dead_threshold"],
                dead_fraction=rv["reinit_dead_fraction"],
                patience=rv["reinit_patience"],
                noise=rv["reinit_noise"],
            )
        else:
            self.revival.epoch_active.zero_()
            self.revival.epoch_samples = 0
        row = dict(zip(["loss", "loss_vae", "loss_sae_conv", "loss_sae_latent", "recon", "kl"], means))
        row.update(k=k, k_latent=k_lat, l1_lambda=l1 if self.stage != "pretrain" else None, beta=beta)
        row["reinit"] = n_reinit if stage3 else None
        return row

    def evaluate(self, k, k_lat) -> dict:
        self.model.eval()
        out = forward_eval(self.model, self.eval_images, k, k_lat, self.params["eval"]["batch_size"],
                           with_sae=self.stage != "pretrain")  # fmt: skip
        return measure(out, self.eval_factors, self.params["eval"])

    # ------------------------------------------------------------------ run
    def _payload(self, k, k_lat) -> dict:
        if self.stage == "pretrain":
            return {"stage": "pretrain", "vae": self.model.vae.state_dict(), "in_channels": self.data.channels}
        payload = {
            "stage": self.stage,
            "method": self.method,
            "model": self.model.state_dict(),
            "in_channels": self.data.channels,
            "k": -1 if k is None else int(k),
            "k_latent": -1 if k_lat is None else int(k_lat),
        }
        if self.stage in ("sparsify", "extend"):
            payload["optimizer"] = self.optimizer.state_dict()
            payload["revival"] = self.revival.state_dict()
        return payload

    def _resume(self) -> tuple[int, list[dict]]:
        if not self.resume_path.exists():
            return 0, []
        state = load_checkpoint(self.resume_path, map_location=self.device)
        if state.get("fingerprint") != self.fp:
            log.warning("ignoring %s: it belongs to a different configuration", self.resume_path)
            return 0, []
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.revival.load_state_dict(state["revival"])
        torch.set_rng_state(state["rng_cpu"])
        log.info("resuming %s from %s after epoch %d", self.stage, self.resume_path, state["epoch"] - 1)
        return int(state["epoch"]), list(state["history"])

    def run(self, stop_after: int | None = None) -> pd.DataFrame:
        """Train all epochs (``stop_after`` ends early without writing outputs: used to test resumption)."""
        start_epoch, rows = self._resume()
        bar = tqdm(
            range(start_epoch, self.epochs),
            desc=f"{self.stage} {self.data.name} s{self.seed} {self.method}",
            disable=not self.progress,
            mininterval=2.0,
        )
        k = k_lat = None
        for epoch in bar:
            t0 = time.perf_counter()
            row = self.train_epoch(epoch)
            k, k_lat = row["k"], row["k_latent"]
            metrics = self.evaluate(k, k_lat)
            row.update({key: v for key, v in metrics.items() if np.isscalar(v)})
            row.update(
                dataset=self.data.name,
                seed=self.seed,
                phase=self.phase,
                stage=self.stage,
                method=self.method,
                epoch=epoch,
                seconds=time.perf_counter() - t0,
            )
            rows.append({c: row.get(c) for c in HISTORY_COLUMNS})
            bar.set_postfix(loss=f"{row['loss']:.4g}", dead=row.get("dead_pct"), mig=f"{row['mig']:.3f}")
            log.info("epoch %d: %s", epoch, {c: rows[-1][c] for c in HISTORY_COLUMNS[5:] if rows[-1][c] is not None})
            save_checkpoint(
                self.resume_path,
                {
                    "fingerprint": self.fp,
                    "epoch": epoch + 1,
                    "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "revival": self.revival.state_dict(),
                    "rng_cpu": torch.get_rng_state(),
                    "history": rows,
                },
            )
            if stop_after is not None and epoch + 1 >= stop_after:
                return pd.DataFrame(rows, columns=HISTORY_COLUMNS)
        if k is None and self.stage != "pretrain":
            k, k_lat = self.sparsity(self.epochs - 1)[:2]
        history = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
        save_checkpoint(self.out_model, self._payload(k, k_lat))
        with atomic_path(self.out_history) as tmp:
            history.to_csv(tmp, index=False, float_format="%.10g")
        self.resume_path.unlink(missing_ok=True)
        return history
