"""The radix select (``vaesae.sparsifiers.select``) against ``torch.topk`` on the flattened tensor, and BatchTopK and
JumpReLU's initial threshold against their former topk implementations (byte-identical output and gradient when the
K-th value is untied); none of it syncs with the host."""

from __future__ import annotations

import pytest
import torch

from vaesae.config.keys import JumpReLUKeys
from vaesae.sparsifiers.batchtopk import batch_topk
from vaesae.sparsifiers.jumprelu import JumpReLU
from vaesae.sparsifiers.select import kth_largest, topk_mask_flat
from vaesae.train.oplog import OpLog

KEYS = dict(epochs=4, k_start=4, k_end=2, warmup_fraction=0.25, hold_fraction=0.25, topk_l1_coeff=0.01,
            jumprelu_threshold_init="quantile", jumprelu_bandwidth=0.5, jumprelu_sparsity_coeff=2.0,
            jumprelu_lr=1e-3, jumprelu_unit_norm_decoder=False, jumprelu_sparsity_warmup_fraction=0.0)  # fmt: skip
def old_batch_topk(a: torch.Tensor, k_total: int) -> torch.Tensor:
    """batch_topk before the radix select (the reference)."""
    flat = a.reshape(-1)
    if k_total >= flat.numel():
        return a
    values, indices = torch.topk(flat, k_total, sorted=False)
    return torch.zeros_like(flat).scatter_(0, indices, values).reshape(a.shape)


def old_theta(pre: torch.Tensor, k_total: int) -> torch.Tensor:
    """JumpReLU._init_from's θ before the radix select."""
    flat = pre.detach().float().reshape(-1)
    return torch.topk(flat, min(k_total, flat.numel()), sorted=False).values.min().clamp_min(1e-6)


def ref_kth(x: torch.Tensor, K: int) -> torch.Tensor:
    """The K-th largest of x (≤ 0 as 0), by torch.topk on the flat float tensor."""
    flat = torch.where(x > 0, x, 0).reshape(-1).to(torch.float64 if x.dtype == torch.float64 else torch.float32)
    return torch.topk(flat, min(K, flat.numel())).values[-1]


def ref_mask(x: torch.Tensor, K: int) -> torch.Tensor:
    flat = x.reshape(-1)
    mask = torch.zeros(flat.shape, dtype=torch.bool)
    mask[torch.topk(flat, min(K, flat.numel()), sorted=False).indices] = True
    return mask.view(x.shape)


def same_bytes(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal dtype, shape and bit patterns (so +0.0 ≠ −0.0)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    view = {2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
    return torch.equal(a.contiguous().view(view), b.contiguous().view(view))


def check_selection(x: torch.Tensor, K: int, groups=None) -> None:
    """τ, n_ties and the mask obey their definitions, whether or not τ is tied."""
    tau, n_ties = kth_largest(x, K, groups=groups)
    mask = topk_mask_flat(x, K, groups=groups)
    ref = ref_kth(x, K)
    assert tau.dtype == ref.dtype and tau.shape == () and n_ties.dtype == torch.int64
    assert same_bytes(tau, ref), (tau, ref)
    xf = torch.where(x > 0, x, 0).to(ref.dtype)
    Ke = min(K, x.numel())
    assert int((xf > tau).sum()) + int(n_ties) == Ke and 1 <= int(n_ties) <= int((xf == tau).sum())
    assert mask.shape == x.shape and mask.dtype == torch.bool and int(mask.sum()) == Ke
    if Ke < x.numel():
        assert xf[mask].min() >= xf[~mask].max()  # every kept value ≥ every dropped one
        assert (mask[xf > tau]).all() and not mask[xf < tau].any()
        tied = (xf == tau).reshape(-1).nonzero().squeeze(1)
        kept_tied = mask.reshape(-1)[tied]
        assert kept_tied[: int(n_ties)].all() and not kept_tied[int(n_ties) :].any()  # first n_ties by index
        if int((xf == tau).sum()) == 1:  # untied: the same set as topk's
            assert torch.equal(mask, ref_mask(xf, K))


SHAPES_K = [((1, 1), 1), ((3, 4), 1), ((3, 4), 11), ((3, 4), 12), ((3, 4), 40), ((16, 64), 1), ((16, 64), 100),
            ((16, 64), 1023), ((16, 64), 1024), ((33, 97), 777), ((4096,), 2048), ((8, 4, 5), 17)]  # fmt: skip


@pytest.mark.parametrize("shape,K", SHAPES_K)
@pytest.mark.parametrize("groups", [None, 4, 6])
def test_kth_largest_and_mask_match_topk_on_relu_outputs(shape, K, groups):
    g = torch.Generator().manual_seed(hash((shape, K)) % 2**31)
    x = torch.relu(torch.randn(shape, generator=g) * 3)  # about half zeros
    check_selection(x, K, groups)
    check_selection(torch.rand(shape, generator=g) + 0.5, K, groups)  # all positive, one exponent mostly


@pytest.mark.parametrize("K", [1, 5, 50, 199, 200, 500])
def test_fewer_positives_than_k_gives_tau_zero_and_fills_with_the_first_zeros(K):
    x = torch.zeros(10, 20)
    x.view(-1)[torch.randperm(200, generator=torch.Generator().manual_seed(K))[:30]] = torch.rand(30) + 0.1
    check_selection(x, K)
    tau, n_ties = kth_largest(x, K)
    if K > 30:
        assert float(tau) == 0.0 and int(n_ties) == min(K, 200) - 30
    assert same_bytes(kth_largest(torch.zeros(7), 3)[0], torch.tensor(0.0))  # all zero


@pytest.mark.parametrize("levels", [2, 3, 5])
@pytest.mark.parametrize("K", [1, 7, 64, 300, 511])
def test_exact_ties_at_the_threshold_keep_exactly_k_first_by_index(levels, K):
    g = torch.Generator().manual_seed(levels * 1000 + K)
    x = torch.randint(0, levels, (16, 32), generator=g).float() * 0.25  # a few levels, 0 included: ties everywhere
    check_selection(x, K)
    check_selection(x, K, groups=8)


def test_negative_zero_negatives_and_infinities_count_as_topk_does():
    x = torch.tensor([[-0.0, 0.5, -1.0, 0.0], [2.0, -0.0, -float("inf"), 0.5]])
    for K in range(1, 9):
        check_selection(x, K)
    tau, n_ties = kth_largest(x, 4)
    assert same_bytes(tau, torch.tensor(0.0)) and int(n_ties) == 1  # +0.0, never −0.0
    mask = topk_mask_flat(x, 4)
    assert mask.tolist() == [[True, True, False, False], [True, False, False, True]]  # the first "zero" is −0.0
    y = torch.tensor([1.0, float("inf"), 3.0, float("inf")])
    assert float(kth_largest(y, 2)[0]) == float("inf") and float(kth_largest(y, 3)[0]) == 3.0
    z = torch.tensor([1.0, float("nan"), 3.0, -float("nan")])  # NaN above +inf, as in topk (either sign)
    assert torch.isnan(kth_largest(z, 2)[0]) and float(kth_largest(z, 3)[0]) == 3.0
    assert topk_mask_flat(z, 2).tolist() == [False, True, False, True]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_half_precision_is_upcast_exactly_and_float64_uses_64_bit_keys(dtype):
    g = torch.Generator().manual_seed(3)
    x = torch.relu(torch.randn(64, 48, generator=g)).to(dtype)  # bf16: many exact ties
    for K in (1, 10, 700, 3071, 3072, 5000):
        check_selection(x, K)
        check_selection(x, K, groups=16)
    tau, _ = kth_largest(x, 10)
    assert tau.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    assert torch.equal(tau.to(dtype).to(tau.dtype), tau)  # representable in the input dtype


def test_bad_arguments():
    with pytest.raises(ValueError):
        kth_largest(torch.ones(3), 0)
    with pytest.raises(ValueError):
        kth_largest(torch.ones(0), 1)
    with pytest.raises(TypeError):
        kth_largest(torch.ones(3, dtype=torch.int64), 1)
    with pytest.raises(ValueError):
        topk_mask_flat(torch.ones(3), -1)
    assert not topk_mask_flat(torch.ones(2, 3), 0).any() and topk_mask_flat(torch.ones(2, 3), 6).all()


# ------------------------------------------------------------------------------------------------ BatchTopK
def _untied(a: torch.Tensor, k: int) -> bool:
    tau, _ = kth_largest(a, k)
    return int((torch.where(a > 0, a, 0).float() == tau).sum()) == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("shape,k_total", [((2, 3), 3), ((8, 16), 1), ((8, 16), 40), ((64, 96), 64 * 5),
                                           ((64, 96), 64 * 40), ((31, 17), 526)])  # fmt: skip
def test_batch_topk_output_and_gradient_are_byte_identical_to_the_topk_version(dtype, shape, k_total):
    g = torch.Generator().manual_seed(k_total)
    n = shape[0] * shape[1]
    if dtype == torch.bfloat16:  # distinct bit patterns of positive bf16 numbers, half of them negated: no ties
        bits = (torch.randperm(0x7F00, generator=g)[:n] + 0x40).to(torch.int16)
        sign = torch.where(torch.rand(n, generator=g) < 0.5, 1.0, -1.0)
        base = (bits.view(torch.bfloat16).float() * sign).view(shape)
    else:
        base = torch.randn(shape, generator=g)
    grad = torch.randn(shape, generator=g).to(dtype)
    outs = []
    for fn in (old_batch_topk, batch_topk):
        pre = base.to(dtype).clone().requires_grad_(True)
        a = torch.relu(pre)
        out = fn(a, k_total)
        out.backward(grad)
        outs.append((out.detach(), pre.grad))
    if k_total < int((base > 0).sum()) and _untied(torch.relu(base.to(dtype)), k_total):
        assert same_bytes(outs[0][0], outs[1][0]) and same_bytes(outs[0][1], outs[1][1])
    else:  # the k_total-th value is 0 or tied: the same values, exactly k_total kept
        assert torch.equal(outs[0][0], outs[1][0])
        assert int((outs[1][1] != 0).sum()) <= k_total


def test_batch_topk_keeps_exactly_k_total_with_ties_and_fewer_positives():
    a = torch.tensor([[1.0, 2.0, 2.0], [2.0, 0.0, 3.0]])
    assert batch_topk(a, 3).tolist() == [[0.0, 2.0, 2.0], [0.0, 0.0, 3.0]]  # the first two 2.0s, by index
    assert batch_topk(a, 6) is a and torch.equal(batch_topk(a, 0), torch.zeros_like(a))
    pre = torch.tensor([[-1.0, 0.5], [-2.0, -0.0]], requires_grad=True)
    out = batch_topk(torch.relu(pre), 3)
    out.sum().backward()
    assert same_bytes(out.detach(), torch.tensor([[0.0, 0.5], [0.0, 0.0]]))
    assert pre.grad.tolist() == [[0.0, 1.0], [0.0, 0.0]]  # relu's gradient is 0 at the kept zeros


# ------------------------------------------------------------------------------------------------ JumpReLU
@pytest.mark.parametrize("case", ["mixed", "few_positive", "all_negative", "ties", "bf16", "tiny_positive"])
def test_jumprelu_initial_threshold_equals_the_topk_version(case):
    g = torch.Generator().manual_seed(len(case))
    pre = torch.randn(32, 6, generator=g)
    if case == "few_positive":
        pre = pre - 2.0  # fewer than k_start · B = 128 positives
    elif case == "all_negative":
        pre = -pre.abs() - 0.1
    elif case == "ties":
        pre = torch.randint(-2, 3, (32, 6), generator=g).float()
    elif case == "bf16":
        pre = pre.bfloat16()
    elif case == "tiny_positive":
        pre = pre.abs() * 1e-8  # below the floor
    s = JumpReLU(JumpReLUKeys(**KEYS), 6, 3)
    lat = torch.randn(32, 3, generator=g)
    s.activate(pre, 4, sae="conv", training=True)
    s.activate(lat, 4, sae="latent", training=True)
    k_lat = s._at(s.k_start).k_latent
    for name, p, k in (("conv", pre, s.k_start), ("latent", lat, k_lat)):
        want = torch.full_like(s.log_theta[name], 0.0).add_(old_theta(p, k * p.shape[0]).log())
        assert same_bytes(s.log_theta[name].detach(), want), name
        assert s.log_theta[name].requires_grad and not s.pending[name]


# ------------------------------------------------------------------------------------------------ no host sync
def test_the_op_log_sees_a_host_sync():
    with OpLog() as log:
        torch.ones(3).sum().item()
        torch.ones(3).nonzero()
    assert log.syncs() == ["_local_scalar_dense", "nonzero"]


def test_selection_batch_topk_and_jumprelu_init_make_no_host_sync():
    a = torch.relu(torch.randn(64, 128))
    pre = torch.randn(64, 6, requires_grad=True)
    s = JumpReLU(JumpReLUKeys(**KEYS), 6, 3)
    with OpLog() as log:
        kth_largest(a, 700)
        kth_largest(a.bfloat16(), 1)
        topk_mask_flat(a, 5000, groups=8)
        out = batch_topk(torch.relu(pre), 64 * 4)
        out.backward(torch.ones_like(out))
        s.activate(pre, 4, sae="conv", training=True)
    assert log.ops and log.syncs() == []
    assert "topk" not in log.ops and "sort" not in log.ops


def test_the_selection_runs_on_the_meta_device_so_its_shapes_do_not_depend_on_data():
    x = torch.empty(512, 8192, device="meta")
    tau, n_ties = kth_largest(x, 500 * 512)
    assert tau.shape == () and tau.device.type == "meta" and n_ties.shape == ()
    assert topk_mask_flat(x, 50 * 512).shape == x.shape
    assert batch_topk(x, 50 * 512).shape == x.shape
