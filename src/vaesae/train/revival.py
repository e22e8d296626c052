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
than ``patience`` consecutive epochs is re-initialised "from the empirical distribution of active neurons" (the
paper), read two ways (``revival.reinit_from``, method-notes):
    donor         from a randomly chosen neuron j active in that epoch:
                  W_e[i] = W_e[j] + ε,  b_e[i] = b_e[j],  W_d[:, i] = W_d[:, j] + ε',  ε ~ N(0, (noise · std(W_e[j]))²)
                  (about (dead / active) copies per donor, which then fire together with it)
    distribution  each coordinate of W_e[i], b_e[i], W_d[:, i] drawn from a Gaussian with the mean and variance of that
                  coordinate over the neurons active in that epoch (a diagonal Gaussian fitted to their weights)
Either way the AdamW moments of the re-initialised rows/columns are set as :func:`reset_moments` says (first moment
zero, second moment the squared gradient of the SAE's loss on the probe batch, at least the active neurons' mean), so
that their first update is no larger than a settled one's. A tied
SAE (``model.tied_sae``) has no W_d of its own: its decoder column is the W_e row, so only W_e and b_e are written
(and only their moments set), and no decoder noise ε' is drawn.

Per epoch the component reports what it did (:class:`RevivalRecord`): the boost vector and the probe spread σ, how
many neurons were boosted (decay factor exp(−r·n_i/t) ≥ ½) and the boost against the spread, the training rates,
and the neurons selected for re-initialisation at the epoch's end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from vaesae.config.sections import REINIT_SOURCES, RevivalConfig
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
    source: str = "donor",
    probe_loss: Callable[[], torch.Tensor] | None = None,
) -> None:
    """Re-initialise the neurons ``dead`` from the active neurons ``donors_pool`` (``source``: ``donor`` copies,
    ``distribution`` draws from a fit) and set their AdamW moments (:func:`reset_moments`; ``probe_loss()``: the SAE's
    loss on a probe batch, whose gradient sets the re-initialised rows' second moment)."""
    if dead.numel() == 0:
        return
    if source == "donor":
        _copy_donors(sae, dead, donors_pool, noise, generator)
    elif source == "distribution":
        _draw_from_fit(sae, dead.to(sae.W_e.device), donors_pool.to(sae.W_e.device), generator)
    else:
        raise ValueError(f"revival.reinit_from must be one of {', '.join(REINIT_SOURCES)}, got {source!r}")
    grad_sq = None
    if probe_loss is not None:
        params = [state_param for state_param, _ in _neuron_params(sae)]
        with torch.enable_grad():
            grads = torch.autograd.grad(probe_loss(), params, allow_unused=True)
        grad_sq = {p: None if g is None else g.detach().square() for p, g in zip(params, grads)}
    reset_moments(optimizer, sae, dead.to(sae.W_e.device), donors_pool.to(sae.W_e.device), grad_sq)


def _copy_donors(sae, dead, donors_pool, noise, generator) -> None:
    """``donor``: W_e[i] = W_e[j] + ε, b_e[i] = b_e[j], W_d[:, i] = W_d[:, j] + ε' for a random active j."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    pick = torch.randint(len(donors_pool), (dead.numel(),), generator=generator, device=gen_device)
    donors = donors_pool[pick.to(donors_pool.device)]
    dead = dead.to(sae.W_e.device)
    donors = donors.to(sae.W_e.device)
    std = sae.W_e[donors].std(dim=1, keepdim=True).clamp_min(1e-8)
    eps_e = torch.randn(sae.W_e[donors].shape, generator=generator, device=gen_device).to(sae.W_e.device)
    if not sae.tied:
        eps_d = torch.randn(sae.W_d[:, donors].shape, generator=generator, device=gen_device).to(sae.W_e.device)
    sae.W_e[dead] = sae.W_e[donors] + noise * std * eps_e
    sae.b_e[dead] = sae.b_e[donors]
    if not sae.tied:  # tied: W_d = W_eᵀ, the decoder column came with the encoder row
        dstd = sae.W_d[:, donors].std(dim=0, keepdim=True).clamp_min(1e-8)
        sae.W_d[:, dead] = sae.W_d[:, donors] + noise * dstd * eps_d


def _draw_from_fit(sae, dead, pool, generator) -> None:
    """``distribution``: each coordinate of W_e[i], b_e[i] and W_d[:, i] drawn from N(mean, var) of that coordinate
    over the active neurons (a diagonal Gaussian fitted to their weights; variance with ddof 0)."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    n = dead.numel()

    def draw(rows: torch.Tensor) -> torch.Tensor:  # rows: (P, ...) of the active neurons -> (n, ...) draws
        mean, std = rows.mean(0), rows.std(0, unbiased=False) if rows.shape[0] > 1 else torch.zeros_like(rows[0])
        eps = torch.randn((n, *rows.shape[1:]), generator=generator, device=gen_device).to(rows.device)
        return mean + std * eps

    sae.W_e[dead] = draw(sae.W_e[pool])
    sae.b_e[dead] = draw(sae.b_e[pool])
    if not sae.tied:
        sae.W_d[:, dead] = draw(sae.W_d[:, pool].t()).t()


def _neuron_params(sae: SparseAutoencoder) -> list[tuple[torch.nn.Parameter, int]]:
    """(parameter, the dimension along which it indexes neurons) for W_e, b_e and, untied, W_d."""
    return [(sae.W_e, 0), (sae.b_e, 0)] + ([] if sae.tied else [(sae.decoder_parameter()[0], 1)])


@torch.no_grad()
def reset_moments(optimizer: torch.optim.Optimizer, sae: SparseAutoencoder, dead: torch.Tensor, active: torch.Tensor,
                  grad_sq: dict | None = None) -> None:  # fmt: skip
    """The AdamW moments of re-initialised neurons: m = 0 and v = max(g₀², v̄) per coordinate, g₀ the gradient of the
    SAE's loss on a probe batch right after the re-initialisation (``grad_sq``: {parameter: g₀²}; without it g₀ = 0)
    and v̄ the mean v of the active neurons.

    With m and v both zeroed (and the step count t, shared by the whole tensor, left as it is) the first update of a
    re-initialised weight would be lr · (1 − β1)/(1 − β1^t) · √((1 − β2^t)/(1 − β2)) whatever its gradient: 3.2 · lr
    once t is in the thousands, and for hundreds of steps after, larger than any settled weight's. With v = g₀², a
    gradient g like the probe's gives lr · (1 − β1) g / √(β2 g₀² + (1 − β2) g²) ≈ lr / 10 (bias corrections ≈ 1): a
    settled weight's step, lr · m/√v, is about lr for a steady gradient. v̄ is the floor where the probe gives no
    gradient (a neuron that did not fire on it)."""
    if active.numel() == 0:
        return
    for param, dim in _neuron_params(sae):
        state = optimizer.state.get(param)
        if not (state and "exp_avg" in state and "exp_avg_sq" in state):
            continue
        state["exp_avg"].index_fill_(dim, dead, 0.0)
        v = state["exp_avg_sq"]
        fill = v.index_select(dim, active).mean(dim, keepdim=True).expand_as(v.index_select(dim, dead))
        g = (grad_sq or {}).get(param)
        if g is not None:
            fill = torch.maximum(fill, g.index_select(dim, dead).to(v.dtype))
        v.index_copy_(dim, dead, fill.contiguous())


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
        probe_loss: Callable[[], torch.Tensor] | None = None,
    ) -> None:
        """Re-initialise the pending neurons, measure σ on ``probe_h`` (inputs of the SAE), write the boost.
        ``probe_loss()``: the SAE's loss on ``probe_h``, whose gradient sets the re-initialised rows' second moment
        (:func:`reset_moments`)."""
        self._applied = int(self.pending.numel())
        if self._applied:
            reinit_neurons(sae, optimizer, self.pending, self.donors, self.cfg.reinit_noise, generator,
                           source=self.cfg.reinit_from, probe_loss=probe_loss)
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
