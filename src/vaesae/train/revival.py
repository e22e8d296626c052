"""Dead-neuron revival during stage 3 and extended training (paper §3.2, method-notes).

Revival acts *between* epochs, before the next epoch trains, and never after the last epoch of a run: every history
row, resume checkpoint and ``model.pt`` describes the network as it came out of training. A re-initialisation that
the last stage-3 epoch triggers is carried in the checkpoint (``pending``) and applied when extended training starts.

Bias boosting, at the start of 1-based stage-3 epoch t:
    b_i(t) = b_base · s_i · exp(−r · n_i / t)
where n_i counts the training samples in which neuron i was active (ã_i > 0) since stage 3 began, r = 0.01, and the
scale s_i is 1 (``bias_scale: absolute``, the paper's reading) or σ_i, the standard deviation of neuron i's
pre-activation (without the boost) over a fixed probe batch measured at the start of the epoch (``eval.batch_size``
evaluation images drawn at random with the run's seed, ``vaesae.train.loop.probe_indices``)
(``bias_scale: relative``). It is written into the SAE's non-trainable ``b_boost`` buffer.

Re-initialisation, decided at the end of an epoch and applied at the start of the next: a neuron is inactive in an
epoch when its training activation rate is below ``inactive_rate`` (a training key, separate from the reporting
``eval.dead_threshold``). If more than ``dead_fraction`` of the neurons are inactive, every neuron inactive for more
than ``patience`` consecutive epochs is re-initialised from a randomly chosen neuron j active in that epoch:
    W_e[i] = W_e[j] + ε,  b_e[i] = b_e[j],  W_d[:, i] = W_d[:, j] + ε',   ε ~ N(0, (noise · std(W_e[j]))²)
and its AdamW moments (exp_avg, exp_avg_sq) for those rows/columns are reset to zero. A tied SAE
(``model.tied_sae``) has no W_d of its own: its decoder column is the copied W_e row, so only W_e and b_e are written
(and only their moments reset), and no decoder noise ε' is drawn.

Per epoch the component reports what it did (:class:`RevivalRecord`): the boost vector and the probe spread σ, how
many neurons were boosted (decay factor exp(−r·n_i/t) ≥ ½) and the boost against the spread, the training rates,
and the neurons selected for re-initialisation at the epoch's end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vaesae.config.sections import RevivalConfig
from vaesae.models.sae import SparseAutoencoder

#: A neuron counts as boosted in an epoch when its boost is at least this fraction of its full scale b_base · s_i.
BOOSTED_FRACTION = 0.5


def bias_boost(total_active: torch.Tensor, t: int, base: float, rate: float, scale: torch.Tensor | float = 1.0):
    """b_i(t) = base · s_i · exp(−rate · n_i / t) for 1-based epoch t."""
    if t < 1:
        raise ValueError(f"bias boost epoch t is 1-based, got {t}")
    return (base * scale * torch.exp(-rate * total_active / t)).to(torch.float32)


def select_for_reinit(
    rates: torch.Tensor, streak: torch.Tensor, inactive_rate: float, dead_fraction: float, patience: int
) -> torch.Tensor:
    """Indices of neurons to re-initialise (empty unless more than ``dead_fraction`` are inactive)."""
    inactive = rates < inactive_rate
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
    params = [(sae.W_e, 0), (sae.b_e, 0)]
    if not sae.tied:
        eps_d = torch.randn(sae.W_d[:, donors].shape, generator=generator, device=gen_device).to(sae.W_e.device)
    sae.W_e[dead] = sae.W_e[donors] + noise * std * eps_e
    sae.b_e[dead] = sae.b_e[donors]
    if not sae.tied:  # tied: W_d = W_eᵀ, the decoder column came with the encoder row
        dstd = sae.W_d[:, donors].std(dim=0, keepdim=True).clamp_min(1e-8)
        sae.W_d[:, dead] = sae.W_d[:, donors] + noise * dstd * eps_d
        params.append((sae.W_d, 1))
    for param, index_dim in params:
        state = optimizer.state.get(param)
        if not state:
            continue
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key].index_fill_(index_dim, dead, 0.0)


@torch.no_grad()
def preactivation_spread(sae: SparseAutoencoder, h: torch.Tensor) -> torch.Tensor:
    """σ_i: the standard deviation of each neuron's pre-activation W_e (h − μ) + b_e (no boost) over the batch h, (m,)."""
    pre = torch.addmm(sae.b_e, h - sae.b_pre, sae.W_e.t())
    return pre.double().std(dim=0, unbiased=False).float()


@dataclass
class RevivalRecord:
    """What revival did around one epoch (host numpy arrays of length m, and their summary)."""

    boost: np.ndarray  # b_boost during the epoch
    spread: np.ndarray  # σ_i on the probe batch at the epoch's start (before the boost)
    train_rate: np.ndarray  # training activation rate of ã during the epoch
    reinit: np.ndarray  # bool: selected at the epoch's end, re-initialised before the next epoch trains
    reinit_applied: int  # neurons re-initialised at the epoch's start (selected at the previous epoch's end)
    boosted: int
    boost_mean: float  # mean boost over the boosted neurons (NaN when none)
    boost_to_spread: float  # median of b_i / σ_i over the boosted neurons (NaN when none)

    def summary(self) -> dict:
        return {"boosted": self.boosted, "boost_mean": self.boost_mean, "boost_to_spread": self.boost_to_spread,
                "reinit": int(self.reinit.sum())}  # fmt: skip


class Revival:
    """Dead-neuron revival of the conv SAE, driven by the training loop.

    ``start_epoch(sae, optimizer, probe_h)`` applies the pending re-initialisation, measures the spread on the probe
    and writes the boost; per batch ``observe(ã)``; ``end_epoch()`` updates the inactivity streaks, selects the
    neurons to re-initialise (kept as ``pending`` until the next ``start_epoch``, also across the stage-3 ->
    extended boundary) and returns the epoch's :class:`RevivalRecord`. The counters travel in checkpoints through
    ``state_dict`` / ``load_state_dict``.
    """

    def __init__(self, cfg: RevivalConfig, m: int, device: torch.device):
        self.cfg = cfg
        self.total_active = torch.zeros(m, dtype=torch.float64, device=device)
        self.epoch_active = torch.zeros(m, dtype=torch.float64, device=device)
        self._samples = torch.zeros((), dtype=torch.long, device=device)  # samples observed this epoch
        self.inactive_streak = torch.zeros(m, dtype=torch.long, device=device)
        self.epochs_done = 0  # stage-3 epochs completed, extended training included
        self.pending = torch.empty(0, dtype=torch.long, device=device)
        self.donors = torch.empty(0, dtype=torch.long, device=device)
        self._applied = 0
        self._boost = torch.zeros(m, dtype=torch.float32, device=device)
        self._spread = torch.zeros(m, dtype=torch.float32, device=device)

    @property
    def epoch_samples(self) -> int:
        """Training samples observed this epoch (read once per epoch: a host sync)."""
        return int(self._samples.item())

    @epoch_samples.setter
    def epoch_samples(self, value: int) -> None:
        self._samples.fill_(int(value))

    def observe(self, a: torch.Tensor) -> None:
        """Count active neurons of a batch of ã (B, m) on the device, in place and without a host sync (a CUDA graph
        replays this)."""
        active = (a > 0).sum(0, dtype=torch.float64)
        self.epoch_active += active
        self.total_active += active
        self._samples.add_(a.shape[0])

    def start_epoch(
        self,
        sae: SparseAutoencoder,
        optimizer: torch.optim.Optimizer,
        probe_h: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> None:
        """Re-initialise the pending neurons, measure σ on ``probe_h`` (inputs of the SAE), write the boost."""
        self._applied = int(self.pending.numel())
        if self._applied:
            reinit_neurons(sae, optimizer, self.pending, self.donors, self.cfg.reinit_noise, generator)
            self.inactive_streak[self.pending] = 0
        self.pending = self.pending[:0]
        self.donors = self.donors[:0]
        self._spread = preactivation_spread(sae, probe_h).to(self._spread.device)
        if self.cfg.bias_boost:
            scale = self._spread if self.cfg.bias_scale == "relative" else 1.0
            boost = bias_boost(self.total_active, self.epochs_done + 1, self.cfg.bias_base, self.cfg.bias_rate, scale)
            sae.b_boost.copy_(boost.to(sae.b_boost.device))
        self._boost = sae.b_boost.detach().float().clone().to(self._spread.device)

    def end_epoch(self) -> RevivalRecord:
        """Update the streaks, select the neurons to re-initialise before the next epoch, reset the epoch counts."""
        rates = self.epoch_active / max(self.epoch_samples, 1)
        inactive = rates < self.cfg.inactive_rate
        self.inactive_streak = torch.where(inactive, self.inactive_streak + 1, torch.zeros_like(self.inactive_streak))
        selected = torch.zeros_like(inactive)
        if self.cfg.reinit:
            cfg = self.cfg
            dead = select_for_reinit(rates, self.inactive_streak, cfg.inactive_rate, cfg.reinit_dead_fraction,
                                     cfg.reinit_patience)  # fmt: skip
            if dead.numel():
                self.pending, self.donors = dead, torch.nonzero(~inactive).flatten()
                selected[dead] = True
        record = self._record(rates, selected)
        self.reset_epoch()
        self.epochs_done += 1
        return record

    def _record(self, rates: torch.Tensor, selected: torch.Tensor) -> RevivalRecord:
        boost = self._boost.cpu().numpy()
        spread = self._spread.cpu().numpy()
        if self.cfg.bias_boost:
            t = self.epochs_done + 1
            decay = torch.exp(-self.cfg.bias_rate * self.total_active_at_start / t).cpu().numpy()
            boosted = decay >= BOOSTED_FRACTION
        else:
            boosted = np.zeros_like(boost, dtype=bool)
        n = int(boosted.sum())
        ratio = boost[boosted] / np.maximum(spread[boosted], 1e-12)
        return RevivalRecord(
            boost=boost,
            spread=spread,
            train_rate=rates.float().cpu().numpy(),
            reinit=selected.cpu().numpy(),
            reinit_applied=self._applied,
            boosted=n,
            boost_mean=float(boost[boosted].mean()) if n else math.nan,
            boost_to_spread=float(np.median(ratio)) if n else math.nan,
        )

    @property
    def total_active_at_start(self) -> torch.Tensor:
        """n_i as it was when this epoch's boost was written (before this epoch's observations)."""
        return self.total_active - self.epoch_active

    def reset_epoch(self) -> None:
        """Forget this epoch's counts (n_i since stage 3 began, the streaks, the epoch count and pending stay)."""
        self.epoch_active.zero_()
        self._samples.zero_()

    def state_dict(self) -> dict:
        return {
            "total_active": self.total_active.cpu(),
            "epoch_active": self.epoch_active.cpu(),
            "epoch_samples": self.epoch_samples,
            "inactive_streak": self.inactive_streak.cpu(),
            "epochs_done": self.epochs_done,
            "pending": self.pending.cpu(),
            "donors": self.donors.cpu(),
        }

    def load_state_dict(self, state: dict) -> None:
        dev = self.total_active.device
        self.total_active.copy_(state["total_active"])
        self.epoch_active.copy_(state["epoch_active"])
        self.epoch_samples = int(state["epoch_samples"])
        self.inactive_streak.copy_(state["inactive_streak"])
        self.epochs_done = int(state["epochs_done"])
        self.pending = state.get("pending", torch.empty(0, dtype=torch.long)).to(dev)
        self.donors = state.get("donors", torch.empty(0, dtype=torch.long)).to(dev)
