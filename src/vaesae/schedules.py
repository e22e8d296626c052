"""Schedules of the three training stages (paper §3.2–3.3, resolved as method-notes says).

β ramp (stage 1, e = 0-based epoch of E):
    β(e) = β_0 + (β_1 − β_0) · (1 − cos(π · e / (E − 1))) / 2          (β(0) = β_0, β(E−1) = β_1)
Top-k schedule (stage 3, t = 0-based epoch of E; W = round(f_w·E) warm-up, H = round(f_h·E) hold, each at least 1
when its fraction is > 0, and A = E − W − H):
    k(t) = k_start                                  for t < W
    k(t) = round(k_end + (k_start − k_end) · cos(π τ / 2)),  τ = (t − W) / A      for W ≤ t < W + A
    k(t) = k_end                                    for t ≥ W + A
    Paper config (E = 50, f_w = f_h = 0.1): W = 5, A = 40, H = 5, exactly method-notes' formula.
L1 anneal (stage 3): λ(t) = λ_0 + (λ_1 − λ_0) · t / (E − 1)   (λ(0) = λ_0, λ(E−1) = λ_1).
Latent SAE (method-notes: it cannot use k up to 500): same active fraction, at least 1:
    k_lat = max(1, round(k · m_lat / m_conv)).
"""

from __future__ import annotations

import math


def beta_schedule(epoch: int, epochs: int, beta_start: float, beta_end: float) -> float:
    if epochs <= 1:
        return beta_end
    return beta_start + (beta_end - beta_start) * (1.0 - math.cos(math.pi * epoch / (epochs - 1))) / 2.0


def phase_lengths(epochs: int, warmup_fraction: float, hold_fraction: float) -> tuple[int, int, int]:
    """(warm-up, anneal, hold) epoch counts; the paper's 50 epochs give (5, 40, 5)."""
    warmup = max(1, int(round(warmup_fraction * epochs))) if warmup_fraction > 0 else 0
    hold = max(1, int(round(hold_fraction * epochs))) if hold_fraction > 0 else 0  # so that k reaches k_end
    anneal = epochs - warmup - hold
    if anneal < 1:
        raise ValueError(
            f"sparsify.epochs={epochs} leaves no anneal phase after warm-up {warmup} and hold {hold} epochs"
        )
    return warmup, anneal, hold


def k_schedule(t: int, epochs: int, k_start: int, k_end: int, warmup_fraction: float, hold_fraction: float) -> int:
    warmup, anneal, _ = phase_lengths(epochs, warmup_fraction, hold_fraction)
    if t < warmup:
        return k_start
    if t >= warmup + anneal:
        return k_end
    tau = (t - warmup) / anneal
    return int(round(k_end + (k_start - k_end) * math.cos(math.pi * tau / 2.0)))


def l1_schedule(t: int, epochs: int, l1_start: float, l1_end: float) -> float:
    if epochs <= 1:
        return l1_end
    return l1_start + (l1_end - l1_start) * t / (epochs - 1)


def latent_k(k: int | None, latent_neurons: int, conv_neurons: int) -> int | None:
    if k is None:
        return None
    return max(1, int(round(k * latent_neurons / conv_neurons)))
