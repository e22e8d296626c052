import math

import torch

from vaesae.models.sae import SparseAutoencoder
from vaesae.train.config import RevivalConfig
from vaesae.train.revival import Revival, bias_boost, select_for_reinit


def revival_cfg(**changes) -> RevivalConfig:
    base = dict(bias_boost=False, bias_base=0.01, bias_rate=0.01, reinit=True, reinit_dead_fraction=0.5,
                reinit_patience=5, reinit_noise=0.01)  # fmt: skip
    return RevivalConfig(**dict(base, **changes))


def test_bias_boost_formula():
    n = torch.tensor([0.0, 100.0, 1e6], dtype=torch.float64)
    got = bias_boost(n, 2, 0.5, 0.01)
    expect = [0.5 * math.exp(-0.01 * v / 2) for v in (0.0, 100.0, 1e6)]
    assert torch.allclose(got.double(), torch.tensor(expect, dtype=torch.float64), atol=1e-7)


def test_select_for_reinit_needs_majority_dead_and_patience():
    rates = torch.tensor([0.0, 0.0, 0.0, 0.5])
    streak = torch.tensor([6, 2, 7, 0])
    assert select_for_reinit(rates, streak, 0.001, 0.5, 5).tolist() == [0, 2]
    assert select_for_reinit(rates, streak, 0.001, 0.8, 5).numel() == 0  # 75% dead is not > 80%


def test_reinit_changes_only_picked_neurons_and_resets_their_moments():
    torch.manual_seed(0)
    sae = SparseAutoencoder(4, 6)
    opt = torch.optim.AdamW(sae.parameters(), lr=1e-2)
    h = torch.randn(8, 4)
    a, h_hat = sae(h, None)
    ((h - h_hat) ** 2).sum().backward()
    opt.step()
    for p in (sae.W_e, sae.b_e, sae.W_d):  # make every moment non-zero
        opt.state[p]["exp_avg"].fill_(1.0)
        opt.state[p]["exp_avg_sq"].fill_(1.0)
    state = Revival(revival_cfg(), 6, torch.device("cpu"), dead_threshold=0.001)
    state.inactive_streak = torch.tensor([9, 9, 9, 9, 0, 0])
    state.epoch_active = torch.tensor([0, 0, 0, 0, 50, 80], dtype=torch.float64)
    state.epoch_samples = 100
    before = {n: p.detach().clone() for n, p in sae.named_parameters()}
    n = state.end_epoch(sae, opt)
    assert n == 4
    dead, alive = [0, 1, 2, 3], [4, 5]
    assert torch.equal(sae.W_e[alive], before["W_e"][alive])
    assert torch.equal(sae.W_d[:, alive], before["W_d"][:, alive])
    assert not torch.equal(sae.W_e[dead], before["W_e"][dead])
    for i in dead:  # each revived row is a noisy copy of a live donor
        dist = [(sae.W_e[i] - before["W_e"][j]).norm().item() for j in alive]
        assert min(dist) < 0.1 * before["W_e"][alive].norm(dim=1).min().item()
    assert torch.all(opt.state[sae.W_e]["exp_avg"][dead] == 0)
    assert torch.all(opt.state[sae.W_e]["exp_avg"][alive] == 1)
    assert torch.all(opt.state[sae.W_d]["exp_avg_sq"][:, dead] == 0)
    assert torch.all(opt.state[sae.W_d]["exp_avg_sq"][:, alive] == 1)
    assert torch.all(opt.state[sae.b_e]["exp_avg"][dead] == 0)
    assert state.inactive_streak[dead].tolist() == [0, 0, 0, 0]
    assert state.epoch_samples == 0 and state.epochs_done == 1


def test_reset_epoch_forgets_only_the_epoch_counts():
    rv = Revival(revival_cfg(), 4, torch.device("cpu"), dead_threshold=0.1)
    rv.observe(torch.tensor([[1.0, 0.0, 0.0, 2.0], [0.5, 0.0, 0.0, 0.0]]))
    rv.observe(torch.tensor([[0.0, 0.0, 3.0, 1.0]]))
    assert rv.epoch_active.tolist() == [2, 0, 1, 2] and rv.epoch_samples == 3
    rv.reset_epoch()
    assert rv.epoch_active.tolist() == [0, 0, 0, 0] and rv.epoch_samples == 0
    assert rv.total_active.tolist() == [2, 0, 1, 2]  # n_i since stage 3 began stays
    assert rv.epochs_done == 0 and rv.inactive_streak.tolist() == [0, 0, 0, 0]


def test_end_epoch_streaks_counts_and_no_reinit_when_off():
    torch.manual_seed(0)
    sae = SparseAutoencoder(3, 4)
    opt = torch.optim.AdamW(sae.parameters(), lr=1e-2)
    before = {n: p.detach().clone() for n, p in sae.named_parameters()}
    rv = Revival(revival_cfg(reinit=False, reinit_dead_fraction=0.0, reinit_patience=0), 4, torch.device("cpu"),
                 dead_threshold=0.3)  # fmt: skip
    rv.inactive_streak = torch.tensor([3, 3, 0, 0])
    rv.observe(torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]))  # rates 1, 1/3, 0, 0
    rng = torch.get_rng_state()
    assert rv.end_epoch(sae, opt) == 0  # 50% dead > 0%, patience 0, but reinit is off
    assert rv.inactive_streak.tolist() == [0, 0, 1, 1]  # active neurons restart, inactive ones count up
    assert rv.epoch_samples == 0 and rv.epoch_active.sum() == 0 and rv.epochs_done == 1
    assert rv.total_active.tolist() == [3, 1, 0, 0]
    assert all(torch.equal(before[n], p) for n, p in sae.named_parameters())
    assert torch.equal(torch.get_rng_state(), rng)  # no random draw without a re-initialisation
    # the same epoch with reinit on: neurons 2 and 3 (inactive, streak 1 > patience 0) are revived from 0 or 1
    on = Revival(revival_cfg(reinit=True, reinit_dead_fraction=0.0, reinit_patience=0), 4, torch.device("cpu"),
                 dead_threshold=0.3)  # fmt: skip
    on.observe(torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]))
    assert on.end_epoch(sae, opt) == 2
    assert on.inactive_streak.tolist() == [0, 0, 0, 0] and on.epochs_done == 1


def test_start_epoch_writes_the_bias_boost_only_when_on():
    sae = SparseAutoencoder(3, 2)
    rv = Revival(revival_cfg(bias_boost=True, bias_base=0.5, bias_rate=0.01), 2, torch.device("cpu"), 0.001)
    rv.total_active = torch.tensor([0.0, 400.0], dtype=torch.float64)
    rv.epochs_done = 1  # the epoch about to run is t = 2
    rv.start_epoch(sae)
    assert torch.allclose(sae.b_boost, torch.tensor([0.5, 0.5 * math.exp(-0.01 * 400 / 2)]))
    off = Revival(revival_cfg(bias_boost=False), 2, torch.device("cpu"), 0.001)
    sae.b_boost.zero_()
    off.start_epoch(sae)
    assert torch.count_nonzero(sae.b_boost) == 0


def test_revival_state_round_trips():
    rv = Revival(revival_cfg(), 3, torch.device("cpu"), 0.001)
    rv.observe(torch.tensor([[1.0, 0.0, 2.0]]))
    rv.inactive_streak = torch.tensor([0, 4, 0])
    rv.epochs_done = 7
    other = Revival(revival_cfg(), 3, torch.device("cpu"), 0.001)
    other.load_state_dict(rv.state_dict())
    for key, value in rv.state_dict().items():
        got = other.state_dict()[key]
        assert torch.equal(got, value) if isinstance(value, torch.Tensor) else got == value, key
