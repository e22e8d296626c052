"""The dead-latent remedies beyond the paper (topk_auxk, batchtopk, jumprelu, topk_centred): each formula against a
direct implementation on tiny tensors, then each method through stage 3 and extended training on the tiny preset
(checkpoint and resume, determinism on CPU, a NaN stop)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import shared_stages, stage_params
from vaesae import methods as method_table
from vaesae.config.base import Section
from vaesae.config.keys import JumpReLUKeys, TopKKeys
from vaesae.config.sections import EvalConfig, ModelConfig, StageConfig
from vaesae.models.sae import SparseAutoencoder
from vaesae.sparsifiers import SAEPass, Sparsity, build
from vaesae.sparsifiers.auxk import TopKAuxK, auxk_activations, normalized_mse
from vaesae.sparsifiers.batchtopk import BatchTopK, batch_topk
from vaesae.sparsifiers.jumprelu import JumpReLU, jumprelu, step
from vaesae.train.centring import InputCentring
from vaesae.train.checkpoint import load_checkpoint
from vaesae.train.loop import HISTORY_COLUMNS, NonFiniteLossError, StageRunner

REMEDIES = ["topk_auxk", "batchtopk", "jumprelu", "topk_centred"]
KEYS = dict(epochs=4, k_start=4, k_end=2, warmup_fraction=0.25, hold_fraction=0.25, topk_l1_coeff=0.01, auxk_k=3,
            auxk_coeff=1 / 32, auxk_dead_epochs=1.0, batchtopk_threshold_rate=0.1, jumprelu_threshold_init=0.01,
            jumprelu_bandwidth=0.5, jumprelu_sparsity_coeff=2.0, jumprelu_lr=1e-3, center_rate=0.25,
            batchtopk_unit_norm_decoder=False, jumprelu_unit_norm_decoder=False,
            jumprelu_sparsity_warmup_fraction=0.0)  # fmt: skip


def sparsify_cfg(method: str, **changes) -> Section:
    """The method's typed sparsify keys (its keys class) from KEYS, with ``changes``."""
    return method_table.get(method).keys_class(**{**{k: KEYS[k] for k in method_table.get(method).keys}, **changes})


def model_cfg(m: int = 6, m_lat: int = 3) -> ModelConfig:
    return ModelConfig(latent_dim=2, encoder_channels=(4,), h_channels=1, fc_hidden=4, conv_sae_neurons=m,
                       latent_sae_neurons=m_lat)  # fmt: skip


def test_the_remedies_are_rows_of_the_methods_table_with_extended_training_on_topk_schedule():
    assert method_table.remedies() == REMEDIES
    for name in REMEDIES:
        m = method_table.get(name)
        assert m.extended and not m.paper and issubclass(m.keys_class, TopKKeys)
        s = build(name, sparsify_cfg(name), model_cfg())
        topk = build("topk", sparsify_cfg("topk"), model_cfg())
        assert [s.sparsity(t) for t in range(4)] == [topk.sparsity(t) for t in range(4)]  # the same k(t)
        assert s.final() == topk.final() == Sparsity(2, 1, 0.01)
    assert method_table.get("topk_centred").centred and not method_table.get("topk").centred
    assert method_table.phases(["topk_auxk"]) == ["init", "topk_auxk", "topk_auxk_extended"]
    assert method_table.phase_run("topk_auxk_extended") == ("extend", "topk_auxk")


# ------------------------------------------------------------------------------------------------ AuxK
def test_auxk_activations_are_the_k_aux_largest_relu_pre_activations_of_dead_latents():
    pre = torch.tensor([[0.5, -1.0, 2.0, 0.3, 1.5], [-0.2, 0.9, -0.1, 0.8, 0.7]])
    dead = torch.tensor([True, True, False, True, True])
    got = auxk_activations(pre, dead, 2)
    expected = torch.zeros_like(pre)
    for b in range(2):  # direct: among the dead, the two largest pre-activations, then ReLU
        cands = sorted(((pre[b, i].item(), i) for i in range(5) if dead[i]), reverse=True)[:2]
        for v, i in cands:
            expected[b, i] = max(v, 0.0)
    torch.testing.assert_close(got, expected)
    assert normalized_mse(torch.tensor([[1.0, 0.0], [3.0, 2.0]]), torch.zeros(2, 2)).item() == pytest.approx(
        (1 + 9 + 4) / (1 + 1 + 1 + 1)
    )


def test_auxk_counts_samples_since_firing_and_its_loss_matches_the_formula():
    torch.manual_seed(0)
    s = TopKAuxK(sparsify_cfg("topk_auxk"), 6, 3)
    model = type("M", (), {})()
    model.conv_sae, model.latent_sae = SparseAutoencoder(4, 6), SparseAutoencoder(2, 3)
    s.attach(model, "sum")
    s.begin_epoch(Sparsity(4, 2, 0.01), samples=4)  # window: 1 epoch = 4 samples
    x = torch.randn(2, 4)
    a = torch.tensor([[0.5, 0.0, 0.0, 0.0005, 0.0, 0.0], [0.0, 0.2, 0.0, 0.0, 0.0, 0.0]])
    lat = SAEPass(torch.randn(2, 2), torch.randn(2, 3), torch.zeros(2, 3), torch.zeros(2, 2))
    for _ in range(3):  # three batches of 2 samples: neurons 0, 1 fire; 3 stays below the firing threshold 1e-3
        conv = SAEPass(x, torch.randn(2, 6), a, torch.zeros(2, 4))
        s.observe(conv, lat)
    assert s.since["conv"].tolist() == [0, 0, 6, 6, 6, 6] and s.dead("conv").tolist() == [False, False] + [True] * 4
    pre = torch.randn(2, 6)
    x_hat = torch.randn(2, 4)
    conv = SAEPass(x, pre, a, x_hat)
    loss = s.aux_loss(conv, lat)["loss_auxk"]
    # direct: the latent SAE is dead too (it never fired); sum both terms
    expected = 0.0
    for p, sae, dead in ((conv, model.conv_sae, s.dead("conv")), (lat, model.latent_sae, s.dead("latent"))):
        a_aux = torch.zeros_like(p.pre)
        for b in range(2):
            idx = [i for i in torch.argsort(p.pre[b] * dead, descending=True).tolist()][:3]
            for i in idx:
                a_aux[b, i] = max((p.pre[b, i] * dead[i]).item(), 0.0)
        e = p.x - p.x_hat
        e_hat = a_aux @ sae.W_d.t()
        nmse = ((e - e_hat) ** 2).sum() / ((e - e.mean(0)) ** 2).sum()
        scale = ((p.x - p.x.mean(0)) ** 2).sum() / 2
        expected += (1 / 32) * scale * nmse
    assert loss.item() == pytest.approx(float(expected.detach()), rel=1e-5)
    s2 = TopKAuxK(sparsify_cfg("topk_auxk"), 6, 3)
    s2.attach(model, "sum")
    s2.begin_epoch(Sparsity(4, 2, 0.01), samples=4)
    assert s2.aux_loss(conv, lat)["loss_auxk"].item() == 0.0  # nothing dead yet: no auxiliary term


def _assert_unit_norm_decoder(s, model, h, before) -> None:
    """``begin`` gives unit decoder columns and keeps what the SAE computes (ReLU commutes with the positive
    scale); ``before_step`` renormalises columns grown since and leaves no gradient along them."""
    sae = model.conv_sae
    s.begin(model)
    torch.testing.assert_close(sae.W_d.norm(dim=0), torch.ones(5))
    torch.testing.assert_close(sae.decode(torch.relu(sae.pre(h))), before)
    sae.W_d.grad = torch.randn_like(sae.W_d)
    with torch.no_grad():
        sae.W_d.mul_(1.5)
    s.before_step(model)
    torch.testing.assert_close(sae.W_d.norm(dim=0), torch.ones(5))
    torch.testing.assert_close((sae.W_d * sae.W_d.grad).sum(0), torch.zeros(5), atol=1e-6, rtol=0)


def test_auxk_keeps_unit_norm_decoder_columns_without_changing_what_the_sae_computes():
    torch.manual_seed(1)
    sae = SparseAutoencoder(4, 5)
    with torch.no_grad():
        sae.W_d.mul_(torch.tensor([0.5, 2.0, 1.0, 3.0, 0.7]))
        sae.b_e.uniform_(-0.1, 0.1)
    model = type("M", (), {})()
    model.conv_sae, model.latent_sae = sae, SparseAutoencoder(2, 3)
    h = torch.randn(7, 4)
    before = sae.decode(torch.relu(sae.pre(h)))
    s = TopKAuxK(sparsify_cfg("topk_auxk"), 5, 3)
    _assert_unit_norm_decoder(s, model, h, before)


def test_the_stop_gradient_arm_is_a_control_not_a_remedy():
    m = method_table.get("topk_detached")
    assert method_table.controls() == ["topk_detached"] and "topk_detached" not in method_table.remedies()
    assert m.control and m.detach_sae and m.extended and not m.paper and m.label == "Top-k, stop-gradient"
    assert m.keys_class is TopKKeys and m.sparsifier == method_table.get("topk").sparsifier
    assert type(build("topk_detached", sparsify_cfg("topk_detached"), model_cfg())) is type(
        build("topk", sparsify_cfg("topk"), model_cfg()))  # the Top-k sparsifier, the same k(t)
    assert not any(method_table.get(n).detach_sae for n in method_table.METHODS if n != "topk_detached")
    assert method_table.phases(["topk_detached"]) == ["init", "topk_detached", "topk_detached_extended"]
    with pytest.raises(ValueError, match="cannot be a control"):
        method_table.register(method_table.Method(name="bogus_control", sparsifier="x:Y", keys_class=TopKKeys,
                                                  extended=False, label="x", paper=True, control=True))  # fmt: skip
    assert "bogus_control" not in method_table.METHODS


# ------------------------------------------------------------------------------------------------ unit-norm decoders
def _skewed_model(tied: bool = False):
    torch.manual_seed(1)
    sae = SparseAutoencoder(4, 5, tied=tied)
    with torch.no_grad():
        (sae.W_e if tied else sae.W_d).mul_(torch.tensor([0.5, 2.0, 1.0, 3.0, 0.7])[:, None] if tied
                                            else torch.tensor([0.5, 2.0, 1.0, 3.0, 0.7]))  # fmt: skip
        sae.b_e.uniform_(-0.1, 0.1)
    model = type("M", (), {})()
    model.conv_sae, model.latent_sae = sae, SparseAutoencoder(2, 3, tied=tied)
    return model


@pytest.mark.parametrize("method, key", [("batchtopk", "batchtopk_unit_norm_decoder"),
                                         ("jumprelu", "jumprelu_unit_norm_decoder")])  # fmt: skip
def test_the_unit_norm_decoder_keys_normalise_as_auxk_does_and_default_to_no_change(method, key):
    h = torch.randn(7, 4)
    # on: the begin() rescaling keeps every kept activation's reconstruction, before_step renormalises
    model = _skewed_model()
    sae = model.conv_sae
    before = sae.decode(torch.relu(sae.pre(h)))
    s = build(method, sparsify_cfg(method, **{key: True}), model_cfg(5, 3))
    _assert_unit_norm_decoder(s, model, h, before)
    # the same numbers as AuxK's (one helper for both)
    ref = _skewed_model()
    TopKAuxK(sparsify_cfg("topk_auxk"), 5, 3).begin(ref)
    fresh = _skewed_model()
    build(method, sparsify_cfg(method, **{key: True}), model_cfg(5, 3)).begin(fresh)
    for name in ("W_e", "b_e", "W_d"):
        assert torch.equal(getattr(fresh.conv_sae, name), getattr(ref.conv_sae, name)), name
    # off (the default): nothing is touched
    model = _skewed_model()
    sae = model.conv_sae
    state = {n: p.detach().clone() for n, p in sae.named_parameters()}
    sae.W_d.grad = torch.randn_like(sae.W_d)
    grad = sae.W_d.grad.clone()
    s = build(method, sparsify_cfg(method), model_cfg(5, 3))
    assert KEYS[key] is False
    s.begin(model)
    s.before_step(model)
    assert all(torch.equal(state[n], p) for n, p in sae.named_parameters()) and torch.equal(sae.W_d.grad, grad)


def test_the_unit_norm_decoder_of_a_tied_sae_normalises_the_encoder_rows():
    model = _skewed_model(tied=True)
    sae = model.conv_sae
    h = torch.randn(7, 4)
    fired = sae.pre(h) > 0
    s = TopKAuxK(sparsify_cfg("topk_auxk"), 5, 3)
    s.begin(model)
    torch.testing.assert_close(sae.W_e.norm(dim=1), torch.ones(5))  # = the decoder columns of W_d = W_eᵀ
    assert torch.equal(sae.pre(h) > 0, fired)  # pre_i / ‖d_i‖: which neurons fire is unchanged
    sae.W_e.grad = torch.randn_like(sae.W_e)
    with torch.no_grad():
        sae.W_e.mul_(1.5)
    s.before_step(model)
    torch.testing.assert_close(sae.W_d.norm(dim=0), torch.ones(5))
    torch.testing.assert_close((sae.W_e * sae.W_e.grad).sum(1), torch.zeros(5), atol=1e-6, rtol=0)


@pytest.mark.parametrize("method, key", [("batchtopk", "batchtopk_unit_norm_decoder"),
                                         ("jumprelu", "jumprelu_unit_norm_decoder")])  # fmt: skip
def test_with_the_unit_norm_key_the_decoder_columns_have_unit_norm_through_training(method, key, start, tiny_cfg,
                                                                                  dsprites_small):  # fmt: skip
    params = stage_params(tiny_cfg, "sparsify", method)
    params["sparsify"] = dict(params["sparsify"], **{key: True})
    r = _runner("sparsify", method, params, dsprites_small, start / f"{method}_unit", start / "init/model.pt")
    m = tiny_cfg["model"]["conv_sae_neurons"]
    torch.testing.assert_close(r.model.conv_sae.W_d.norm(dim=0), torch.ones(m))  # begin(): stage 3's start
    r.optimizer.zero_grad(set_to_none=True)
    x = r.data.batch(r.data.train_idx[:32])
    r.stage.loss(x, r.stage.sparsity(0), 1.0)["loss"].backward()
    with torch.no_grad():
        r.model.conv_sae.W_d.mul_(1.1)  # as an optimizer step would move them
    r.stage.before_step()
    torch.testing.assert_close(r.model.conv_sae.W_d.norm(dim=0), torch.ones(m))
    grad = r.model.conv_sae.W_d.grad
    torch.testing.assert_close((r.model.conv_sae.W_d * grad).sum(0), torch.zeros(m), atol=1e-5, rtol=0)
    row = r.train_epoch(0)
    assert math.isfinite(row["loss"])
    torch.testing.assert_close(r.model.conv_sae.W_d.norm(dim=0), torch.ones(m), atol=0.02, rtol=0)


# ------------------------------------------------------------------------------------------------ BatchTopK
def test_batch_topk_keeps_the_k_times_b_largest_of_the_whole_batch_and_learns_its_threshold():
    a = torch.tensor([[5.0, 0.1, 0.2], [4.0, 3.0, 0.3]])
    got = batch_topk(a, 3)  # k = 1.5 per sample on average: row 0 keeps 1, row 1 keeps 2
    torch.testing.assert_close(got, torch.tensor([[5.0, 0.0, 0.0], [4.0, 3.0, 0.0]]))
    s = BatchTopK(sparsify_cfg("batchtopk"), 3, 2)
    pre = torch.tensor([[5.0, 0.1, -0.2], [4.0, 3.0, 0.3]])
    kept = s.activate(pre, 1, sae="conv", training=True)
    torch.testing.assert_close(kept, torch.tensor([[5.0, 0.0, 0.0], [4.0, 0.0, 0.0]]))  # 1 · B = 2 kept
    lat = SAEPass(None, None, torch.tensor([[0.0, 2.0], [1.0, 0.0]]), None)
    s.observe(SAEPass(None, pre, kept, None), lat)
    assert float(s.theta["conv"]) == 4.0 and float(s.theta["latent"]) == 1.0  # first batch: the smallest kept
    s.observe(SAEPass(None, pre, torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), None), lat)
    assert float(s.theta["conv"]) == pytest.approx(4.0 + 0.1 * (2.0 - 4.0))  # then the EMA at rate 0.1
    s.observe(SAEPass(None, pre, torch.zeros(2, 3), None), lat)  # nothing kept: θ unchanged
    assert float(s.theta["conv"]) == pytest.approx(3.8)
    # evaluation zeroes the activations at or below θ, whatever k is
    out = s.activate(torch.tensor([[3.9, 3.7, -1.0]]), 3, sae="conv", training=False)
    torch.testing.assert_close(out, torch.tensor([[3.9, 0.0, 0.0]]))
    s2 = BatchTopK(sparsify_cfg("batchtopk"), 3, 2)
    s2.load_state_dict(s.state_dict())
    assert s2.state_dict() == s.state_dict() == {"theta_conv": pytest.approx(3.8), "theta_latent": 1.0}


# ------------------------------------------------------------------------------------------------ JumpReLU
def test_jumprelu_forward_and_straight_through_gradients_match_the_formulas():
    eps = 0.5
    pre = torch.tensor([[0.1, 0.9, 2.0], [1.2, 0.4, 2.3]], requires_grad=True)
    theta = torch.tensor([0.2, 1.0, 2.1], requires_grad=True)
    out = jumprelu(pre, theta, eps)
    torch.testing.assert_close(out, pre.detach() * (pre.detach() > theta.detach()))
    g = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    out.backward(g)
    # direct: d/dpre = g·H(pre − θ); d/dθ_i = Σ_b g_bi · (−θ_i/ε) · 1[|pre_bi − θ_i| < ε/2]
    torch.testing.assert_close(pre.grad, g * (pre.detach() > theta.detach()))
    expected = torch.zeros(3)
    for i in range(3):
        for b in range(2):
            if abs(pre[b, i].item() - theta[i].item()) < eps / 2:
                expected[i] += g[b, i] * (-theta[i].item() / eps)
    torch.testing.assert_close(theta.grad, expected)
    pre.grad = theta.grad = None
    l0 = step(pre, theta, eps).sum(1).mean()
    assert l0.item() == pytest.approx(((pre > theta).sum() / 2).item())
    l0.backward()
    assert (pre.grad == 0).all()
    expected = torch.zeros(3)
    for i in range(3):
        for b in range(2):
            if abs(pre[b, i].item() - theta[i].item()) < eps / 2:
                expected[i] += 0.5 * (-1 / eps)  # d mean_b / dH = 1/B
    torch.testing.assert_close(theta.grad, expected)


def test_jumprelu_l0_target_follows_k_of_t_and_its_threshold_is_its_own_parameter_group():
    s = JumpReLU(sparsify_cfg("jumprelu"), 3, 2)
    torch.testing.assert_close(s.theta("conv"), torch.full((3,), 0.01))
    (group,) = s.param_groups()
    assert group["lr"] == KEYS["jumprelu_lr"] and group["weight_decay"] == 0.0 and len(group["params"]) == 2
    s.begin_epoch(Sparsity(2, 1, 0.01), samples=8)
    pre = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    lat_pre = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    x_conv, x_lat = torch.tensor([[1.0, 0.0], [3.0, 0.0]]), torch.tensor([[0.0], [4.0]])
    loss = s.aux_loss(SAEPass(x_conv, pre, None, None), SAEPass(x_lat, lat_pre, None, None))
    # conv: L0 = (3 + 1) / 2 = 2 = k -> 0; latent: L0 = (1 + 2) / 2 = 1.5, k_lat = 1 -> c · S · 0.5², with
    # S = Σ_b ‖x_b − x̄‖² / B = (4 + 4) / 2 = 4 for the latent input
    assert loss["loss_l0"].item() == pytest.approx(2.0 * 4.0 * 0.25)
    s.attach(None, "mean")  # per-element reconstruction: S / d (d = 1 here, so unchanged)
    assert s.aux_loss(SAEPass(x_conv, pre, None, None), SAEPass(x_lat, lat_pre, None, None))["loss_l0"].item() == 2.0
    out = s.activate(torch.tensor([[0.005, 0.02, -1.0]]), 2, sae="conv")
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.02, 0.0]]))  # k is ignored
    state = s.state_dict()
    s2 = JumpReLU(sparsify_cfg("jumprelu"), 3, 2)
    ref = s2.log_theta["conv"]
    s2.load_state_dict({k: v + 1.0 if isinstance(v, torch.Tensor) else v for k, v in state.items()})
    assert s2.log_theta["conv"] is ref  # restored in place (an optimizer holds it)
    torch.testing.assert_close(s2.theta("conv"), torch.full((3,), 0.01 * math.e))


def test_jumprelu_quantile_init_starts_every_threshold_at_the_batch_top_k_start_b_value():
    cfg = sparsify_cfg("jumprelu", jumprelu_threshold_init="quantile")
    assert type(cfg) is JumpReLUKeys
    s = JumpReLU(cfg, 4, 2)
    s.k_start = 2  # 2 of the 4 conv neurons per sample
    pre = torch.tensor([[0.5, 3.0, -1.0, 0.2], [2.0, 0.1, 1.0, 4.0]])
    out = s.activate(pre, 2, sae="conv", training=True)
    # the k_start · B = 4 largest of the batch are 4, 3, 2, 1: every θ_i = 1, the smallest of them; H(pre − θ) then
    # keeps what is strictly above it
    torch.testing.assert_close(s.theta("conv"), torch.ones(4))
    torch.testing.assert_close(out, pre * (pre > 1.0))
    assert s.state_dict()["pending_conv"] is False and s.state_dict()["pending_latent"] is True
    again = s.activate(pre * 10, 2, sae="conv", training=True)  # only the first training batch sets θ
    torch.testing.assert_close(again, pre * 10 * (pre * 10 > 1.0))
    with pytest.raises(ValueError, match="jumprelu_threshold_init"):
        JumpReLU(sparsify_cfg("jumprelu", jumprelu_threshold_init=-1.0), 4, 2)


def test_jumprelu_sparsity_warmup_ramps_c_from_zero_and_travels_in_the_state():
    x_conv, x_lat = torch.tensor([[1.0, 0.0], [3.0, 0.0]]), torch.tensor([[0.0], [4.0]])
    pre, lat_pre = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]), torch.tensor([[1.0, 0.0], [1.0, 1.0]])

    def loss(s):
        return s.aux_loss(SAEPass(x_conv, pre, None, None), SAEPass(x_lat, lat_pre, None, None))["loss_l0"].item()

    full = 2.0 * 4.0 * 0.25  # c · S · (L0/k − 1)² of the latent SAE (the conv term is 0), as above
    off = JumpReLU(sparsify_cfg("jumprelu"), 3, 2)
    off.begin_epoch(Sparsity(2, 1, 0.01), samples=8)
    assert off.seen is None and "samples_seen" not in off.state_dict()  # the default: no clock, no new state
    assert off.coefficient(2) == KEYS["jumprelu_sparsity_coeff"] and [loss(off) for _ in range(3)] == [full] * 3
    # f = 0.5 of E = 4 epochs of 8 samples: over the first 16 samples (8 steps of 2)
    on = JumpReLU(sparsify_cfg("jumprelu", jumprelu_sparsity_warmup_fraction=0.5), 3, 2)
    on.begin_epoch(Sparsity(2, 1, 0.01), samples=8)
    got = [loss(on) for _ in range(10)]
    assert got[0] == 0.0  # λ = 0 at the start
    assert got == pytest.approx([full * min(1.0, 2 * s / 16) for s in range(10)])  # linear, then the full value
    assert got[8] == got[9] == pytest.approx(full)
    state = on.state_dict()
    assert state["samples_seen"] == 20.0
    again = JumpReLU(sparsify_cfg("jumprelu", jumprelu_sparsity_warmup_fraction=0.5), 3, 2)
    again.begin_epoch(Sparsity(2, 1, 0.01), samples=8)
    again.load_state_dict(state)  # a resumed or extended run continues the clock: past the warm-up
    assert loss(again) == pytest.approx(full)
    half = JumpReLU(sparsify_cfg("jumprelu", jumprelu_sparsity_warmup_fraction=0.5), 3, 2)
    half.begin_epoch(Sparsity(2, 1, 0.01), samples=8)
    half.load_state_dict(dict(state, samples_seen=8.0))
    assert loss(half) == pytest.approx(full / 2)
    with pytest.raises(ValueError, match="jumprelu_sparsity_warmup_fraction"):
        JumpReLU(sparsify_cfg("jumprelu", jumprelu_sparsity_warmup_fraction=1.5), 3, 2)


def test_jumprelu_with_a_warmup_trains_and_resumes_identically(start, tiny_cfg, dsprites_small):
    params = stage_params(tiny_cfg, "sparsify", "jumprelu")
    params["sparsify"] = dict(params["sparsify"], jumprelu_sparsity_warmup_fraction=0.5,
                              jumprelu_unit_norm_decoder=True)
    init = start / "init/model.pt"
    full = start / "jumprelu_warmup"
    _runner("sparsify", "jumprelu", params, dsprites_small, full, init).run()
    hist = pd.read_csv(full / "history.csv")
    assert np.isfinite(hist["loss"]).all() and (hist["loss_aux"] >= 0).all()
    ckpt = load_checkpoint(full / "model.pt")
    n_steps = 640 // tiny_cfg["optim"]["batch_size"]
    samples = tiny_cfg["sparsify"]["epochs"] * n_steps * tiny_cfg["optim"]["batch_size"]
    assert ckpt["sparsifier"]["samples_seen"] == samples
    killed = start / "jumprelu_warmup_killed"
    _runner("sparsify", "jumprelu", params, dsprites_small, killed, init).run(stop_after=2)
    _runner("sparsify", "jumprelu", params, dsprites_small, killed, init).run()
    pd.testing.assert_frame_equal(hist.drop(columns="seconds"),
                                  pd.read_csv(killed / "history.csv").drop(columns="seconds"))  # fmt: skip
    _same_state(ckpt["sparsifier"], load_checkpoint(killed / "model.pt")["sparsifier"])


# ------------------------------------------------------------------------------------------------ centring
def test_centring_keeps_a_running_mean_that_the_sae_subtracts_and_adds_back():
    model = type("M", (), {})()
    model.conv_sae, model.latent_sae = SparseAutoencoder(2, 3), SparseAutoencoder(1, 2)
    c = InputCentring(0.25)
    h1, z1 = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0], [1.0]])
    c.update(model, h1, z1)
    torch.testing.assert_close(model.conv_sae.b_pre, torch.tensor([2.0, 3.0]))  # first batch: its mean
    c.update(model, torch.tensor([[6.0, 3.0], [6.0, 3.0]]), torch.tensor([[5.0], [5.0]]))
    torch.testing.assert_close(model.conv_sae.b_pre, torch.tensor([2.0 + 0.25 * 4.0, 3.0]))
    torch.testing.assert_close(model.latent_sae.b_pre, torch.tensor([2.0]))
    sae = model.conv_sae
    h = torch.randn(4, 2)
    torch.testing.assert_close(sae.pre(h), (h - sae.b_pre) @ sae.W_e.t() + sae.b_e)
    a = torch.rand(4, 3)
    torch.testing.assert_close(sae.decode(a), a @ sae.W_d.t() + sae.b_pre)
    with pytest.raises(ValueError, match="center_rate"):
        InputCentring(0.0)


def test_revival_keys_can_differ_per_method(tiny_cfg):
    from conftest import load_config
    from vaesae.workflow import ConfigError, rule_params

    cfg = load_config("tiny", methods=["topk", "jumprelu"], revival={"per_method": {"jumprelu": {"bias_boost": False}}})
    assert rule_params(cfg, "sparsify", method="jumprelu")["revival"]["bias_boost"] is False
    assert rule_params(cfg, "sparsify", method="topk")["revival"]["bias_boost"] is True
    assert "per_method" not in rule_params(cfg, "extend", method="topk")["revival"]
    with pytest.raises(ConfigError, match="revival.per_method: unknown method"):
        load_config("tiny", revival={"per_method": {"nosuch": {"reinit": False}}})


# ------------------------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def start(tiny_cfg, dsprites_small, tmp_path_factory):
    return shared_stages(tiny_cfg, dsprites_small, tmp_path_factory.mktemp("remedies"), seed=5)


def _runner(stage, method, params, data, out, init):
    return StageRunner(StageConfig.from_params(stage, params, method), dataset_file=str(data), seed=5,
                       out_model=str(out / "model.pt"), out_history=str(out / "history.csv"), init_checkpoint=str(init),
                       checkpoint_minutes=0, progress=False)  # fmt: skip


def _same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
        else:
            assert a[key] == b[key]


@pytest.mark.parametrize("method", REMEDIES)
def test_each_remedy_trains_resumes_identically_extends_and_stops_on_nan(method, start, tiny_cfg, dsprites_small):
    init = start / "init/model.pt"
    params = stage_params(tiny_cfg, "sparsify", method)
    full = start / method
    _runner("sparsify", method, params, dsprites_small, full, init).run()
    hist = pd.read_csv(full / "history.csv")
    assert list(hist.columns) == HISTORY_COLUMNS and (hist["method"] == method).all()
    assert hist["k"].iloc[0] == tiny_cfg["sparsify"]["k_start"] and hist["k"].iloc[-1] == tiny_cfg["sparsify"]["k_end"]
    assert hist[["loss", "l0", "l0_latent", "loss_aux", "mig"]].notna().all().all()
    if method in ("topk_auxk", "topk_centred"):  # a per-sample Top-k: L0 = k(t) exactly, whatever happens
        assert (hist["l0"] == hist["k"]).all()
    if method == "batchtopk":  # k per sample on average over the batch
        assert (hist["l0"] - hist["k"]).abs().max() < 1e-4
    ckpt = load_checkpoint(full / "model.pt")
    assert ckpt["method"] == method and set(ckpt["sparsify"]) == set(method_table.get(method).keys)
    if method == "topk_centred":
        assert ckpt["model"]["conv_sae.b_pre"].abs().sum() > 0  # the running mean is part of the model
    else:
        assert ckpt["model"]["conv_sae.b_pre"].abs().sum() == 0
    # determinism on CPU and resume: a second run, killed after 2 epochs (those two epochs recomputed from scratch)
    # and resumed from its resume file, ends bit for bit where the first one did
    killed = start / f"{method}_killed"
    _runner("sparsify", method, params, dsprites_small, killed, init).run(stop_after=2)
    _runner("sparsify", method, params, dsprites_small, killed, init).run()
    pd.testing.assert_frame_equal(hist.drop(columns="seconds"),
                                  pd.read_csv(killed / "history.csv").drop(columns="seconds"))  # fmt: skip
    other_ckpt = load_checkpoint(killed / "model.pt")
    _same_state(ckpt["sparsifier"], other_ckpt["sparsifier"])
    _same_state(ckpt["model"], other_ckpt["model"])
    # extended training continues at k_end with the method's state
    ext = start / f"{method}_extended"
    _runner("extend", method, stage_params(tiny_cfg, "extend", method), dsprites_small, ext, full / "model.pt").run()
    ext_hist = pd.read_csv(ext / "history.csv")
    assert (ext_hist["phase"] == f"{method}_extended").all() and (ext_hist["k"] == tiny_cfg["sparsify"]["k_end"]).all()
    # a non-finite loss stops the run, naming where, and leaves no output
    hazard = {"topk_auxk": {"sparsify": dict(params["sparsify"], auxk_coeff=float("inf"))},
              "jumprelu": {"sparsify": dict(params["sparsify"], jumprelu_sparsity_coeff=float("inf"))}}.get(
        method, {"optim": dict(params["optim"], lr=float("inf"))})  # fmt: skip
    bad = start / f"{method}_nan"
    nan_params = {**params, **hazard}
    if method == "topk_auxk":  # AuxK only acts once a latent is dead: a 0-epoch window makes every silent one dead
        nan_params["sparsify"]["auxk_dead_epochs"] = 1e-9
    with pytest.raises(NonFiniteLossError, match=rf"stage sparsify .* method {method}\) at epoch \d+, step \d+"):
        _runner("sparsify", method, nan_params, dsprites_small, bad, init).run()
    assert not (bad / "model.pt").exists() and not (bad / "history.csv").exists()


def test_the_evaluation_uses_each_methods_inference_rule(start, tiny_cfg, dsprites_small):
    """BatchTopK evaluates with its learned threshold and JumpReLU with θ, not with a per-sample Top-k."""
    import h5py

    from vaesae.cli.evaluate import evaluate_checkpoint
    from vaesae.workflow import rule_params

    params = EvalConfig.from_params(dict(rule_params(tiny_cfg, "evaluate"), device="cpu"))
    for method in ("batchtopk", "jumprelu"):
        path = start / method / "model.pt"
        if not path.exists():
            pytest.skip("needs the end-to-end test's runs")
        ckpt = load_checkpoint(path)
        out = start / f"{method}_eval.h5"
        evaluate_checkpoint(str(dsprites_small), 5, method, str(path), params, str(out))
        with h5py.File(out) as f:
            values = f["conv_sae/values"][()]
        if method == "batchtopk":
            assert values.size and (values > ckpt["sparsifier"]["theta_conv"]).all()
        else:
            assert values.size and (values > ckpt["sparsifier"]["log_theta_conv"].exp().min().item()).all()
