import pytest
import torch

from vaesae.models.hybrid import HybridVAESAE, count_parameters
from vaesae.models.sae import SparseAutoencoder, topk_mask
from vaesae.train import losses
from vaesae.config.sections import ModelConfig

from conftest import load_config


def test_paper_architecture_parameter_count():
    cfg = ModelConfig.from_params(load_config(None)["model"])
    model = HybridVAESAE(1, cfg)
    assert model.vae.h_dim == 4096
    assert count_parameters(model.conv_sae) == 4096 * 8192 * 2 + 8192
    assert count_parameters(model) == pytest.approx(68.6e6, rel=0.005)


def test_topk_keeps_exactly_the_k_largest():
    torch.manual_seed(0)
    a = torch.relu(torch.randn(4, 50))
    out = topk_mask(a, 5)
    for row, orig in zip(out, a):
        kept = torch.nonzero(row).flatten()
        assert len(kept) == 5
        assert torch.equal(row[kept], orig[kept])
        assert orig[kept].min() >= orig[row == 0].max()
    assert topk_mask(a, None) is a


def test_sae_equations():
    torch.manual_seed(1)
    sae = SparseAutoencoder(6, 12)
    h = torch.randn(3, 6)
    a, h_hat = sae(h, 4)
    pre = torch.relu(h @ sae.W_e.T + sae.b_e)
    ref = torch.zeros_like(pre)
    for i in range(3):
        idx = pre[i].argsort(descending=True)[:4]
        ref[i, idx] = pre[i, idx]
    assert torch.allclose(a, ref)
    assert torch.allclose(h_hat, ref @ sae.W_d.T)


def test_free_bits_clamps_total_kl():
    mu = torch.tensor([[0.1, 0.0], [3.0, 2.0]])
    logvar = torch.zeros(2, 2)
    kl = 0.5 * mu.pow(2).sum(1)  # σ = 1
    got = losses.free_bits_kl(mu, logvar, 1.0, "total")
    assert got.item() == pytest.approx(((kl.clamp_min(1.0)).mean()).item())
    per_dim = losses.free_bits_kl(mu, logvar, 1.0, "per_dim")
    assert per_dim.item() == pytest.approx((0.5 * mu.pow(2)).clamp_min(0.5).sum(1).mean().item())
    with pytest.raises(ValueError, match="free_bits_mode"):
        losses.free_bits_kl(mu, logvar, 1.0, "bogus")


def test_bernoulli_recon_is_summed_bce():
    logits = torch.tensor([[[[0.0, 2.0]]]])
    x = torch.tensor([[[[1.0, 0.0]]]])
    expect = -torch.log(torch.sigmoid(torch.tensor(0.0))) - torch.log(1 - torch.sigmoid(torch.tensor(2.0)))
    assert losses.bernoulli_recon(logits, x).item() == pytest.approx(expect.item(), rel=1e-6)


# ------------------------------------------------------------------------------------------------ model.tied_sae
def test_a_tied_sae_has_one_weight_matrix_and_decodes_with_its_transpose():
    torch.manual_seed(3)
    tied, untied = SparseAutoencoder(6, 12, tied=True), SparseAutoencoder(6, 12)
    assert [n for n, _ in tied.named_parameters()] == ["W_e", "b_e"]
    assert [n for n, _ in untied.named_parameters()] == ["W_e", "b_e", "W_d"]
    assert [n for n, p in tied.named_parameters() if p.dim() == 2] == ["W_e"]
    assert "W_d" not in tied.state_dict() and "W_d" in untied.state_dict()
    # W_d is readable: the view W_eᵀ of the one parameter
    assert tied.W_d.shape == (6, 12) and tied.W_d.data_ptr() == tied.W_e.data_ptr()
    assert torch.equal(tied.W_d, tied.W_e.t())
    h = torch.randn(5, 6)
    a, h_hat = tied(h, 4)
    pre = h @ tied.W_e.detach().T + tied.b_e.detach()
    ref = topk_mask(torch.relu(pre), 4)
    torch.testing.assert_close(a, ref)
    torch.testing.assert_close(h_hat, ref @ tied.W_e.detach())  # decode(encode(h)) = ã W_e
    # the decoder's gradient lands on W_e: with ã held fixed, ∂Σĥ/∂W_e[i, j] = Σ_b ã_bi
    tied.decode(a.detach()).sum().backward()
    torch.testing.assert_close(tied.W_e.grad, a.detach().sum(0)[:, None].expand(12, 6))
    with torch.no_grad():  # and decoding follows W_e
        tied.W_e.mul_(2.0)
    torch.testing.assert_close(tied.decode(a.detach()), 2.0 * h_hat.detach())


def test_tied_and_untied_parameter_counts_differ_by_d_times_m():
    params = load_config(None)["model"]
    untied = HybridVAESAE(1, ModelConfig.from_params(params))
    tied = HybridVAESAE(1, ModelConfig.from_params(dict(params, tied_sae=True)))
    d, m, L, m_lat = 4096, 8192, params["latent_dim"], params["latent_sae_neurons"]
    assert count_parameters(untied.conv_sae) - count_parameters(tied.conv_sae) == d * m
    assert count_parameters(untied.latent_sae) - count_parameters(tied.latent_sae) == L * m_lat
    assert count_parameters(untied) - count_parameters(tied) == d * m + L * m_lat
    assert count_parameters(tied.vae) == count_parameters(untied.vae)
    assert tied.conv_sae.tied and tied.latent_sae.tied and not untied.conv_sae.tied


def test_a_checkpoint_of_the_other_tying_is_a_clear_error():
    params = dict(load_config("tiny")["model"])
    untied = HybridVAESAE(1, ModelConfig.from_params(params))
    tied = HybridVAESAE(1, ModelConfig.from_params(dict(params, tied_sae=True)))
    with pytest.raises(ValueError, match="untied SAEs cannot be loaded into tied SAEs: model.tied_sae"):
        tied.load_state_dict(untied.state_dict())
    with pytest.raises(ValueError, match="tied SAEs cannot be loaded into untied SAEs: model.tied_sae"):
        untied.load_state_dict(tied.state_dict())
    other = HybridVAESAE(1, ModelConfig.from_params(dict(params, tied_sae=True)))
    other.load_state_dict(tied.state_dict())
    assert torch.equal(other.conv_sae.W_d, tied.conv_sae.W_d)
    with pytest.raises(Exception, match="sae_gradient"):
        ModelConfig.from_params(dict(params, sae_gradient="sometimes"))


# ------------------------------------------------------------------------------------------------ model.sae_gradient
def test_detach_sae_detaches_the_sae_inputs_and_targets_and_nothing_else():
    torch.manual_seed(4)
    model = HybridVAESAE(1, ModelConfig.from_params(load_config("tiny")["model"]))
    x = torch.rand(3, 1, 64, 64)
    for detach in (False, True):
        torch.manual_seed(5)
        out = model(x, 4, 1, detach_sae=detach)
        assert out.h.requires_grad is not detach and out.z.requires_grad is not detach
        assert out.mu.requires_grad and out.logits.requires_grad and out.h_hat.requires_grad
    torch.manual_seed(5)
    joint = model(x, 4, 1)
    torch.manual_seed(5)
    detached = model(x, 4, 1, detach_sae=True)
    for name in ("h", "z", "logits", "a_conv", "h_hat", "a_lat", "z_hat"):  # the same numbers, only the graph differs
        assert torch.equal(getattr(joint, name), getattr(detached, name)), name
