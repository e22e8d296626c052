"""Dead-neuron revival during stage 3 and extended training (paper §3.2, method-notes).

Bias boosting, at the start of 1-based stage-3 epoch t:
    b_i(t) = b_base · exp(−r · n_i / t)
where n_i counts the training samples in which neuron i was active (ã_i > 0) since stage 3 began, r = 0.01.
It is written into the SAE's non-trainable ``b_boost`` buffer, so it lifts only neurons that almost never fire.

Re-initialisation, at the end of each epoch: a neuron is inactive in an epoch when its training activation rate is
below the dead threshold. If more than ``dead_fraction`` of the neurons are inactive, every neuron inactive for more
than ``patience`` consecutive epochs is re-initialised from a randomly chosen active neuron j:
    W_e[i] = W_e[j] + ε,  b_e[i] = b_e[j],  W_d[:, i] = W_d[:, j] + ε',   ε ~ N(0, (noise · std(W_e[j]))²)
and its AdamW moments (exp_avg, exp_avg_sq) for those rows/columns are reset to zero.
"""

from __future__ import annotations

import torch

from vaesae.models.sae import SparseAutoencoder
from vaesae.train.config import RevivalConfig


def bias_boost(total_active: torch.Tensor, t: int, base: float, rate: float) -> torch.Tensor:
    """b_i(t) = base · exp(−rate · n_i / t) for 1-based epoch t."""
    if t < 1:
        raise ValueError(f"bias boost epoch t is 1-based, got {t}")
    return (base * torch.exp(-rate * total_active / t)).to(torch.float32)


def select_for_reinit(
    rates: torch.Tensor, streak: torch.Tensor, dead_threshold: float, dead_fraction: float, patience: int
) -> torch.Tensor:
    """Indices of neurons to re-initialise (empty unless more than ``dead_fraction`` are inactive)."""
    inactive = rates < dead_threshold
    if inactive.double().mean().item() <= dead_fraction or bool(inactive.all()):
        return torch.empty(0, dtype=torch.long, device=rates.device)
    return torch.nonzero(inactive & (streak > patience)).flatten()


@torch.no_grad()
def reinit_neurons(
    sae: SparseAutoencoder,
    optimizer: torch.optim.Optimizer,
    dead: torch.Tensor,
    donors_pool: torch.Tensor,
    noise: float,
    generator: torch.Generator | None = None,
) -> None:
    """Copy random donors' encoder rows, biases and decoder columns (plus noise) into ``dead``; reset their moments."""
    if dead.numel() == 0:
        return
    gen_device = generator.device if generator is not None else torch.device("cpu")
    pick = torch.randint(len(donors_pool), (dead.numel(),), generator=generator, device=gen_device)
    donors = donors_pool[pick.to(donors_pool.device)]
    dead = dead.to(sae.W_e.device)
    donors = donors.to(sae.W_e.device)
    std = sae.W_e[donors].std(dim=1, keepdim=True).clamp_min(1e-8)
    eps_e = torch.randn(sae.W_e[donors].shape, generator=generator, device=gen_device).to(sae.W_e.device)
    eps_d = torch.randn(sae.W_d[:, donors].shape, generator=generator, device=gen_device).to(sae.W_e.device)
    sae.W_e[dead] = sae.W_e[donors] + noise * std * eps_e
    sae.b_e[dead] = sae.b_e[donors]
    dstd = sae.W_d[:, donors].std(dim=0, keepdim=True).clamp_min(1e-8)
    sae.W_d[:, dead] = sae.W_d[:, donors] + noise * dstd * eps_d
    for param, index_dim in ((sae.W_e, 0), (sae.b_e, 0), (sae.W_d, 1)):
        state = optimizer.state.get(param)
        if not state:
            continue
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key].index_fill_(index_dim, dead, 0.0)


class Revival:
    """Dead-neuron revival of the conv SAE, driven by the training loop.

    Per batch ``observe(ã)``; at the start of a stage-3 epoch ``start_epoch(sae)`` writes the bias boost; at its end
    ``end_epoch(sae, optimizer)`` updates the inactivity streaks, re-initialises if the rule fires and starts the
    next epoch's counts. The counters (n_i since stage 3 began, this epoch's counts, streaks, epochs done) travel in
    checkpoints through ``state_dict`` / ``load_state_dict``.
    """

    def __init__(self, cfg: RevivalConfig, m: int, device: torch.device, dead_threshold: float):
        self.cfg, self.dead_threshold = cfg, dead_threshold
        self.total_active = torch.zeros(m, dtype=torch.float64, device=device)
        self.epoch_active = torch.zeros(m, dtype=torch.float64, device=device)
        self.epoch_samples = 0
        self.inactive_streak = torch.zeros(m, dtype=torch.long, device=device)
        self.epochs_done = 0  # stage-3 epochs completed, extended training included

    def observe(self, a: torch.Tensor) -> None:
        """Count active neurons of a batch of ã (B, m) on the device, without a host sync."""
        active = (a > 0).sum(0, dtype=torch.float64)
        self.epoch_active += active
        self.total_active += active
        self.epoch_samples += a.shape[0]

    def start_epoch(self, sae: SparseAutoencoder) -> None:
        """With ``bias_boost`` on: b_boost = b_base · exp(−r · n / t) for the 1-based epoch t about to run."""
        if self.cfg.bias_boost:
            t = self.epochs_done + 1
            boost = bias_boost(self.total_active, t, self.cfg.bias_base, self.cfg.bias_rate)
            sae.b_boost.copy_(boost.to(sae.b_boost.device))

    def end_epoch(
        self, sae: SparseAutoencoder, optimizer: torch.optim.Optimizer, generator: torch.Generator | None = None
    ) -> int:
        """Update streaks, re-initialise if ``reinit`` is on and the rule fires, reset the per-epoch counts.
        Returns the number of neurons re-initialised."""
        rates = self.epoch_active / max(self.epoch_samples, 1)
        inactive = rates < self.dead_threshold
        self.inactive_streak = torch.where(inactive, self.inactive_streak + 1, torch.zeros_like(self.inactive_streak))
        n = 0
        if self.cfg.reinit:
            cfg = self.cfg
            dead = select_for_reinit(rates, self.inactive_streak, self.dead_threshold, cfg.reinit_dead_fraction,
                                     cfg.reinit_patience)  # fmt: skip
            if dead.numel():
                donors = torch.nonzero(~inactive).flatten()
                reinit_neurons(sae, optimizer, dead, donors, cfg.reinit_noise, generator)
                self.inactive_streak[dead] = 0
                n = int(dead.numel())
        self.reset_epoch()
        self.epochs_done += 1
        return n

    def reset_epoch(self) -> None:
        """Forget this epoch's counts (n_i since stage 3 began, the streaks and the epoch count stay)."""
        self.epoch_active.zero_()
        self.epoch_samples = 0

    def state_dict(self) -> dict:
        return {
            "total_active": self.total_active.cpu(),
            "epoch_active": self.epoch_active.cpu(),
            "epoch_samples": self.epoch_samples,
            "inactive_streak": self.inactive_streak.cpu(),
            "epochs_done": self.epochs_done,
        }

    def load_state_dict(self, state: dict) -> None:
        dev = self.total_active.device
        self.total_active = state["total_active"].to(dev)
        self.epoch_active = state["epoch_active"].to(dev)
        self.epoch_samples = int(state["epoch_samples"])
        self.inactive_streak = state["inactive_streak"].to(dev)
        self.epochs_done = int(state["epochs_done"])
