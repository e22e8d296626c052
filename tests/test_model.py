import pytest
import torch

from vaesae.models.hybrid import HybridVAESAE, count_parameters
from vaesae.models.sae import SparseAutoencoder, topk_mask
from vaesae.train import losses
from vaesae.train.config import ModelConfig

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
