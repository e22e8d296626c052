import math

import numpy as np
import torch

from vaesae.models.sae import SparseAutoencoder
from vaesae.config.sections import RevivalConfig
from vaesae.train.revival import Revival, bias_boost, preactivation_spread, select_for_reinit


def revival_cfg(**changes) -> RevivalConfig:
    base = dict(bias_boost=False, bias_base=0.01, bias_rate=0.01, reinit=True, reinit_dead_fraction=0.5,
                reinit_patience=5, reinit_noise=0.01, inactive_rate=0.001)  # fmt: skip
    return RevivalConfig(**dict(base, **changes))


def _sae_with_moments(d=4, m=6):
    torch.manual_seed(0)
    sae = SparseAutoencoder(d, m)
    opt = torch.optim.AdamW(sae.parameters(), lr=1e-2)
    h = torch.randn(8, d)
    a, h_hat = sae(h, None)
    ((h - h_hat) ** 2).sum().backward()
    opt.step()
    for p in (sae.W_e, sae.b_e, sae.W_d):  # make every moment non-zero
        opt.state[p]["exp_avg"].fill_(1.0)
        opt.state[p]["exp_avg_sq"].fill_(1.0)
    return sae, opt


def test_bias_boost_formula():
    n = torch.tensor([0.0, 100.0, 1e6], dtype=torch.float64)
    got = bias_boost(n, 2, 0.5, 0.01)
    expect = [0.5 * math.exp(-0.01 * v / 2) for v in (0.0, 100.0, 1e6)]
    assert torch.allclose(got.double(), torch.tensor(expect, dtype=torch.float64), atol=1e-7)
    scaled = bias_boost(n, 2, 0.5, 0.01, torch.tensor([2.0, 3.0, 4.0]))
    assert torch.allclose(scaled.double(), torch.tensor(expect, dtype=torch.float64) * torch.tensor([2.0, 3, 4]).double())


def test_select_for_reinit_needs_majority_dead_and_patience():
    rates = torch.tensor([0.0, 0.0, 0.0, 0.5])
    streak = torch.tensor([6, 2, 7, 0])
    assert select_for_reinit(rates, streak, 0.001, 0.5, 5).tolist() == [0, 2]
    assert select_for_reinit(rates, streak, 0.001, 0.8, 5).numel() == 0  # 75% dead is not > 80%


def test_reinit_is_selected_at_the_end_and_applied_only_at_the_next_start():
    sae, opt = _sae_with_moments()
    state = Revival(revival_cfg(), 6, torch.device("cpu"))
    state.inactive_streak = torch.tensor([9, 9, 9, 9, 0, 0])
    state.epoch_active = torch.tensor([0, 0, 0, 0, 50, 80], dtype=torch.float64)
    state.total_active = state.epoch_active.clone()
    state.epoch_samples = 100
    before = {n: p.detach().clone() for n, p in sae.named_parameters()}
    record = state.end_epoch()
    dead, alive = [0, 1, 2, 3], [4, 5]
    assert record.reinit.tolist() == [True] * 4 + [False] * 2 and record.summary()["reinit"] == 4
    assert np.allclose(record.train_rate, [0, 0, 0, 0, 0.5, 0.8])
    # end_epoch changes nothing in the network: the epoch's evaluation sees it as trained
    assert all(torch.equal(before[n], p) for n, p in sae.named_parameters())
    assert state.pending.tolist() == dead and state.state_dict()["pending"].tolist() == dead
    state.start_epoch(sae, opt, torch.randn(16, 4))
    assert torch.equal(sae.W_e[alive], before["W_e"][alive])
    assert torch.equal(sae.W_d[:, alive], before["W_d"][:, alive])
    assert not torch.equal(sae.W_e[dead], before["W_e"][dead])
    for i in dead:  # each revived row is a noisy copy of a live donor
        dist = [(sae.W_e[i] - before["W_e"][j]).norm().item() for j in alive]
        assert min(dist) < 0.1 * before["W_e"][alive].norm(dim=1).min().item()
    assert torch.all(opt.state[sae.W_e]["exp_avg"][dead] == 0)
    assert torch.all(opt.state[sae.W_e]["exp_avg"][alive] == 1)
    assert torch.all(opt.state[sae.W_d]["exp_avg_sq"][:, dead] == 1)  # the active columns' mean (reset_moments)
    assert torch.all(opt.state[sae.W_d]["exp_avg_sq"][:, alive] == 1)
    assert torch.all(opt.state[sae.b_e]["exp_avg"][dead] == 0)
    assert state.inactive_streak[dead].tolist() == [0, 0, 0, 0]
    assert state.pending.numel() == 0 and state.epoch_samples == 0 and state.epochs_done == 1
    assert state.end_epoch().reinit_applied == 4  # the next epoch's record says what its start did


def test_pending_reinit_travels_through_a_checkpoint():
    """Stage 3's last epoch selects; extended training (a new Revival loaded from the checkpoint) applies."""
    sae, opt = _sae_with_moments()
    rv = Revival(revival_cfg(reinit_dead_fraction=0.0, reinit_patience=0), 6, torch.device("cpu"))
    rv.observe(torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.0, 0.0]]))
    rv.end_epoch()
    assert rv.pending.tolist() == [2, 3, 4, 5]
    resumed = Revival(revival_cfg(reinit_dead_fraction=0.0, reinit_patience=0), 6, torch.device("cpu"))
    resumed.load_state_dict(rv.state_dict())
    before = sae.W_e.detach().clone()
    resumed.start_epoch(sae, opt, torch.randn(4, 4))
    assert not torch.equal(sae.W_e[2:], before[2:]) and torch.equal(sae.W_e[:2], before[:2])


def test_reset_epoch_forgets_only_the_epoch_counts():
    rv = Revival(revival_cfg(), 4, torch.device("cpu"))
    rv.observe(torch.tensor([[1.0, 0.0, 0.0, 2.0], [0.5, 0.0, 0.0, 0.0]]))
    rv.observe(torch.tensor([[0.0, 0.0, 3.0, 1.0]]))
    assert rv.epoch_active.tolist() == [2, 0, 1, 2] and rv.epoch_samples == 3
    rv.reset_epoch()
    assert rv.epoch_active.tolist() == [0, 0, 0, 0] and rv.epoch_samples == 0
    assert rv.total_active.tolist() == [2, 0, 1, 2]  # n_i since stage 3 began stays
    assert rv.epochs_done == 0 and rv.inactive_streak.tolist() == [0, 0, 0, 0]


def test_end_epoch_streaks_counts_and_no_reinit_when_off():
    rv = Revival(revival_cfg(reinit=False, reinit_dead_fraction=0.0, reinit_patience=0, inactive_rate=0.3), 4,
                 torch.device("cpu"))  # fmt: skip
    rv.inactive_streak = torch.tensor([3, 3, 0, 0])
    rv.observe(torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]))  # rates 1, 1/3, 0, 0
    record = rv.end_epoch()
    assert record.summary()["reinit"] == 0 and rv.pending.numel() == 0  # 50% dead > 0%, patience 0, reinit off
    assert rv.inactive_streak.tolist() == [0, 0, 1, 1]  # active neurons restart, inactive ones count up
    assert rv.epoch_samples == 0 and rv.epoch_active.sum() == 0 and rv.epochs_done == 1
    assert rv.total_active.tolist() == [3, 1, 0, 0]
    # the same epoch with reinit on: neurons 2 and 3 (inactive under 0.3, streak 1 > patience 0) are selected
    on = Revival(revival_cfg(reinit=True, reinit_dead_fraction=0.0, reinit_patience=0, inactive_rate=0.3), 4,
                 torch.device("cpu"))  # fmt: skip
    on.observe(torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]))
    assert on.end_epoch().reinit.tolist() == [False, False, True, True]
    # the revival threshold is its own key: under 0.001 only the never-active neurons are inactive
    low = Revival(revival_cfg(reinit=True, reinit_dead_fraction=0.0, reinit_patience=0, inactive_rate=0.001), 4,
                  torch.device("cpu"))  # fmt: skip
    low.observe(torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]))
    assert low.end_epoch().reinit.tolist() == [False, False, True, True]
    assert low.inactive_streak.tolist() == [0, 0, 1, 1]


def test_start_epoch_writes_the_bias_boost_only_when_on():
    sae = SparseAutoencoder(3, 2)
    opt = torch.optim.AdamW(sae.parameters(), lr=1e-2)
    probe = torch.randn(32, 3)
    rv = Revival(revival_cfg(bias_boost=True, bias_base=0.5, bias_rate=0.01), 2, torch.device("cpu"))
    rv.total_active = torch.tensor([0.0, 400.0], dtype=torch.float64)
    rv.epochs_done = 1  # the epoch about to run is t = 2
    rv.start_epoch(sae, opt, probe)
    assert torch.allclose(sae.b_boost, torch.tensor([0.5, 0.5 * math.exp(-0.01 * 400 / 2)]))
    off = Revival(revival_cfg(bias_boost=False), 2, torch.device("cpu"))
    sae.b_boost.zero_()
    off.start_epoch(sae, opt, probe)
    assert torch.count_nonzero(sae.b_boost) == 0


def test_relative_boost_scales_with_the_pre_activation_spread_and_the_record_compares_them():
    torch.manual_seed(1)
    sae = SparseAutoencoder(3, 4)
    opt = torch.optim.AdamW(sae.parameters(), lr=1e-2)
    probe = torch.randn(64, 3)
    sigma = preactivation_spread(sae, probe)
    pre = probe @ sae.W_e.detach().t() + sae.b_e.detach()
    assert torch.allclose(sigma, pre.std(0, unbiased=False), atol=1e-6)
    rv = Revival(revival_cfg(bias_boost=True, bias_base=2.0, bias_rate=0.01, bias_scale="relative"), 4,
                 torch.device("cpu"))  # fmt: skip
    rv.start_epoch(sae, opt, probe)  # t = 1, n = 0: b = 2 σ
    assert torch.allclose(sae.b_boost, 2.0 * sigma, atol=1e-6)
    # neuron 3 fires on every sample of a large epoch: its decay factor exp(-0.01 * 1000 / 1) is far below 1/2
    rv.observe(torch.tensor([[0.0, 0.0, 0.0, 1.0]]).repeat(1000, 1))
    record = rv.end_epoch()
    assert record.boosted == 4  # the boost of this epoch was written with n = 0 for every neuron
    assert math.isclose(record.boost_to_spread, 2.0, rel_tol=1e-5)
    assert np.allclose(record.boost, 2.0 * sigma.numpy(), atol=1e-6) and np.allclose(record.spread, sigma.numpy())
    rv.start_epoch(sae, opt, probe)
    assert rv.end_epoch().boosted == 3  # t = 2: neuron 3's factor exp(-0.01 * 1000 / 2) < 1/2


def test_revival_state_round_trips():
    rv = Revival(revival_cfg(), 3, torch.device("cpu"))
    rv.observe(torch.tensor([[1.0, 0.0, 2.0]]))
    rv.inactive_streak = torch.tensor([0, 4, 0])
    rv.epochs_done = 7
    rv.pending, rv.donors = torch.tensor([1]), torch.tensor([0, 2])
    other = Revival(revival_cfg(), 3, torch.device("cpu"))
    other.load_state_dict(rv.state_dict())
    for key, value in rv.state_dict().items():
        got = other.state_dict()[key]
        assert torch.equal(got, value) if isinstance(value, torch.Tensor) else got == value, key
