import math

import torch

from vaesae.models.sae import SparseAutoencoder
from vaesae.train.revival import RevivalState, bias_boost, end_of_epoch, select_for_reinit


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
    state = RevivalState(6, torch.device("cpu"))
    state.inactive_streak = torch.tensor([9, 9, 9, 9, 0, 0])
    state.epoch_active = torch.tensor([0, 0, 0, 0, 50, 80], dtype=torch.float64)
    state.epoch_samples = 100
    before = {n: p.detach().clone() for n, p in sae.named_parameters()}
    n = end_of_epoch(sae, opt, state, reinit=True, dead_threshold=0.001, dead_fraction=0.5, patience=5, noise=0.01)
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
