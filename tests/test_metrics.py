"""Metrics against slow, obvious references (sklearn's mutual_info_score, per-column np.histogram / np.digitize)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.metrics import mutual_info_score

from vaesae.cli import sweep as sweep_cli
from vaesae.metrics import (
    MigResult,
    activation_rate,
    dead_pct,
    discretize,
    factor_entropy,
    mig,
    mutual_info_matrix,
    neuron_factor_mi,
    pixel_mse,
    specialized_count,
    threshold_sweep,
)
from vaesae.metrics.discretize import histogram_edges

# ----------------------------------------------------------------------------------------------- slow references


def ref_discretize(x, n_bins=20):
    out = np.zeros(x.shape, dtype=np.int64)
    for i in range(x.shape[1]):
        out[:, i] = np.digitize(x[:, i], np.histogram(x[:, i], n_bins)[1][:-1])
    return out


def ref_mi_matrix(codes, factors):
    out = np.zeros((codes.shape[1], factors.shape[1]))
    for i in range(codes.shape[1]):
        for j in range(factors.shape[1]):
            out[i, j] = mutual_info_score(codes[:, i], factors[:, j])
    return out


def ref_entropy(factors):
    return np.array([mutual_info_score(factors[:, j], factors[:, j]) for j in range(factors.shape[1])])


def ref_mig(means, factors, n_bins=20):
    """disentanglement_lib's _compute_mig, with single-valued factors left out of the mean."""
    m = ref_mi_matrix(ref_discretize(means, n_bins), factors)
    h = ref_entropy(factors)
    sorted_m = np.sort(m, axis=0)[::-1]
    keep = h > 0
    return np.mean((sorted_m[0, keep] - sorted_m[1, keep]) / h[keep])


def ref_neuron_mi(acts, factors, n_bins=20, normalize=True):
    acts = np.asarray(acts)
    h = ref_entropy(factors)
    out = np.zeros((acts.shape[1], factors.shape[1]))
    for i in range(acts.shape[1]):
        a = acts[:, i]
        codes = np.digitize(a, np.histogram(a, n_bins)[1][:-1])
        for j in range(factors.shape[1]):
            mi = mutual_info_score(codes, factors[:, j])
            if normalize:
                mi = mi / h[j] if h[j] > 0 else 0.0
            out[i, j] = mi
    return out


# ------------------------------------------------------------------------------------------------------ fixtures


def make_factors(rng, n, sizes=(3, 6, 40, 1, 8)):
    return np.stack([rng.integers(0, k, n) for k in sizes], axis=1).astype(np.int64)


def make_acts(rng, factors, m=64, density=0.05, dtype=np.float32):
    """SAE-like activations: mostly zeros, some dead neurons, a few factor-coding and signed neurons."""
    n = factors.shape[0]
    acts = np.where(rng.random((n, m)) < density, rng.random((n, m)), 0.0)
    acts[:, :6] = 0.0  # dead
    acts[:, 6] = 2.5  # constant nonzero
    acts[:, 7] = rng.normal(size=n)  # dense, negative values
    acts[:, 8] = np.where(factors[:, 1] >= 3, factors[:, 1] * 0.25, 0.0)  # codes a factor
    acts[:, 9] = acts[:, 8]
    acts[:, 10] = rng.choice([-1.0, 0.0, 1.0], size=n)  # 0 is exactly an interior histogram edge
    acts[:, 11] = np.where(factors[:, 2] % 2 == 0, -factors[:, 2] - 1.0, 0.0)  # negative sparse
    acts[:, 12] = rng.random(n) + 0.5  # never zero
    acts[:3, 13] = [0.3, 0.7, 0.9]  # almost dead
    acts[:, 13] = np.where(np.arange(n) < 3, acts[:, 13], 0.0)
    return acts.astype(dtype)


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(1234)


# ---------------------------------------------------------------------------------------------------- discretize


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
@pytest.mark.parametrize("n_bins", [1, 2, 7, 20])
def test_discretize_matches_numpy_loop(rng, dtype, n_bins):
    for scale in (1e-6, 1.0, 1e5):
        x = rng.normal(size=(500, 9)) * scale
        x[:, 1] = 3.0  # constant
        x[:, 2] = np.round(rng.uniform(-1, 1, 500), 1)  # many values on the edges
        x = (x * 10).astype(dtype) if dtype == np.int64 else x.astype(dtype)
        got = discretize(x, n_bins)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, ref_discretize(x, n_bins))


def test_discretize_values_on_the_edges(rng):
    for dtype in (np.float32, np.float64):
        lo, hi = dtype(-0.37), dtype(2.9)
        edges = np.histogram(np.array([lo, hi], dtype=dtype), 20)[1]
        x = np.concatenate([edges, np.nextafter(edges, dtype(-np.inf)), np.nextafter(edges, dtype(np.inf))])
        x = np.clip(x, lo, hi).astype(dtype)[:, None]
        got = discretize(x)
        np.testing.assert_array_equal(got, ref_discretize(x))
        assert got.min() == 1 and got.max() == 20


def test_histogram_edges_bitwise(rng):
    for dtype in (np.float16, np.float32, np.float64):
        lo = (rng.normal(size=200) * 10 ** rng.uniform(-4, 4, 200)).astype(dtype)
        hi = (lo + np.abs(rng.normal(size=200)) * 10 ** rng.uniform(-3, 3, 200)).astype(dtype)
        hi[:5] = lo[:5]
        edges = histogram_edges(lo, hi, 20, dtype=dtype)
        checked = 0
        for i in range(200):
            try:
                ref = np.histogram(np.array([lo[i], hi[i]], dtype=dtype), 20)[1]
            except ValueError:
                continue  # np.histogram itself refuses ranges too narrow for 20 bins
            checked += 1
            assert ref.dtype == edges.dtype
            np.testing.assert_array_equal(edges[i], ref)
        assert checked > 100


def test_discretize_constant_column_is_one_bin():
    codes = discretize(np.full((10, 2), 4.2))
    assert len(np.unique(codes[:, 0])) == 1 and len(np.unique(codes[:, 1])) == 1


# --------------------------------------------------------------------------------------------------- mutual info


def test_mutual_info_matrix_matches_sklearn(rng):
    n = 700
    factors = make_factors(rng, n)
    factors[:, 4] = factors[:, 4] * 7 - 20  # labels need not be 0..K-1
    codes = np.stack(
        [
            rng.integers(1, 21, n),
            factors[:, 0] * 3 + rng.integers(0, 2, n),
            np.full(n, 5),
            factors[:, 2],
            -factors[:, 4],
        ],
        axis=1,
    )
    got = mutual_info_matrix(codes, factors)
    np.testing.assert_allclose(got, ref_mi_matrix(codes, factors), rtol=0, atol=1e-12)
    assert np.all(got[2] == 0.0)  # constant code
    assert np.all(got[:, 3] == 0.0)  # single-valued factor


def test_factor_entropy(rng):
    factors = make_factors(rng, 400)
    h = factor_entropy(factors)
    np.testing.assert_allclose(h, ref_entropy(factors), rtol=0, atol=1e-12)
    p = np.bincount(factors[:, 2]) / 400
    p = p[p > 0]
    assert h[2] == pytest.approx(-(p * np.log(p)).sum(), abs=1e-12)
    assert h[3] == 0.0
    assert factor_entropy(np.repeat(np.arange(4), 5)[:, None])[0] == pytest.approx(np.log(4), abs=1e-12)


# ----------------------------------------------------------------------------------------------------------- MIG


def test_mig_latent_copies_factor():
    f = np.repeat(np.arange(5), 40)
    g = np.tile(np.arange(4), 50)
    factors = np.stack([f, g], axis=1)
    means = np.stack([f * 0.3 + 1.0, np.zeros(200)], axis=1)  # latent 0 copies factor 0, latent 1 constant
    res = mig(means, factors)
    assert isinstance(res, MigResult)
    assert res.per_factor[0] == pytest.approx(1.0, abs=1e-12)
    assert res.per_factor[1] == pytest.approx(0.0, abs=1e-12)
    assert res.score == pytest.approx(0.5, abs=1e-12)
    assert np.all(res.latent_mi[1] == 0.0)  # constant latent has MI 0
    assert res.latent_mi[0, 0] == pytest.approx(np.log(5), abs=1e-12)
    np.testing.assert_allclose(res.entropy, [np.log(5), np.log(4)], atol=1e-12)


def test_mig_two_latents_copy_same_factor_gap_zero():
    f = np.repeat(np.arange(5), 40)
    means = np.stack([f * 1.0, -2.0 * f, np.zeros(200)], axis=1)
    res = mig(means, f[:, None])
    assert res.per_factor[0] == pytest.approx(0.0, abs=1e-12)
    assert res.score == pytest.approx(0.0, abs=1e-12)


def test_mig_single_valued_factor_excluded(rng):
    f = np.repeat(np.arange(5), 40)
    factors = np.stack([f, np.zeros(200, dtype=np.int64)], axis=1)
    means = np.stack([f + 0.01 * rng.normal(size=200), rng.normal(size=200)], axis=1)
    res = mig(means, factors)
    assert np.isnan(res.per_factor[1])
    assert res.entropy[1] == 0.0
    assert res.score == pytest.approx(res.per_factor[0])


def test_mig_errors():
    with pytest.raises(ValueError, match="single value"):
        mig(np.random.default_rng(0).normal(size=(50, 3)), np.zeros((50, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="at least 2"):
        mig(np.zeros((50, 1)), np.arange(50)[:, None])


def test_mig_matches_reference(rng):
    n = 1000
    factors = make_factors(rng, n, sizes=(3, 6, 10, 1, 8))
    means = rng.normal(size=(n, 6)).astype(np.float32)
    means[:, 0] += factors[:, 2]
    means[:, 1] += 0.5 * factors[:, 2] + factors[:, 1]
    means[:, 3] = factors[:, 0]
    res = mig(means, factors)
    assert res.score == pytest.approx(ref_mig(means, factors), abs=1e-12)
    np.testing.assert_allclose(res.latent_mi, ref_mi_matrix(ref_discretize(means), factors), atol=1e-12, rtol=0)


# ------------------------------------------------------------------------------------------------ specialization


@pytest.fixture(scope="module")
def spec_data():
    rng = np.random.default_rng(99)
    factors = make_factors(rng, 1500)
    acts = make_acts(rng, factors, m=80)
    return acts, factors, ref_neuron_mi(acts, factors), ref_neuron_mi(acts, factors, normalize=False)


@pytest.mark.parametrize("chunk", [1, 7, 1024])
def test_specialization_numpy(spec_data, chunk):
    acts, factors, ref, ref_raw = spec_data
    got = neuron_factor_mi(acts, factors, chunk=chunk)
    assert got.shape == (acts.shape[1], factors.shape[1]) and got.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
    raw = neuron_factor_mi(acts, factors, normalize=False, chunk=chunk)
    np.testing.assert_allclose(raw, ref_raw, rtol=0, atol=1e-9)
    assert np.all(got[:7] == 0.0)  # dead and constant neurons
    assert np.all(got[:, 3] == 0.0)  # single-valued factor
    assert got[8, 1] > 0.3 and got[9, 1] == got[8, 1]


@pytest.mark.parametrize("chunk", [5, 1024])
def test_specialization_torch(spec_data, chunk):
    acts, factors, ref, _ = spec_data
    got = neuron_factor_mi(torch.from_numpy(acts), factors, chunk=chunk)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_specialization_torch_cuda(spec_data):
    acts, factors, ref, _ = spec_data
    got = neuron_factor_mi(torch.from_numpy(acts).cuda(), factors, chunk=16)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("chunk", [3, 1024])
def test_specialization_csr(spec_data, chunk):
    acts, factors, ref, _ = spec_data
    np.testing.assert_allclose(neuron_factor_mi(sp.csr_matrix(acts), factors, chunk=chunk), ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(neuron_factor_mi(sp.csr_array(acts), factors, chunk=chunk), ref, rtol=0, atol=1e-9)


def test_specialization_csr_explicit_zeros_and_duplicates(rng):
    factors = make_factors(rng, 200)
    dense = make_acts(rng, factors, m=20, density=0.2)
    csr = sp.csr_matrix(dense)
    # store explicit zeros and split some values into duplicate entries: same matrix, non-canonical layout
    indptr, indices, data = [0], [], []
    for r in range(dense.shape[0]):
        row = csr.getrow(r)
        for c, v in zip(row.indices, row.data):
            if c % 3 == 0:
                indices += [c, c]
                data += [v / 2, v - v / 2]
            else:
                indices.append(c)
                data.append(v)
        if dense[r, 15] == 0:  # an explicitly stored zero
            indices.append(15)
            data.append(0.0)
        indptr.append(len(indices))
    weird = sp.csr_matrix((np.array(data, np.float32), np.array(indices), np.array(indptr)), shape=dense.shape)
    np.testing.assert_array_equal(weird.toarray(), dense)
    ref = ref_neuron_mi(dense, factors)
    np.testing.assert_allclose(neuron_factor_mi(weird, factors, chunk=6), ref, rtol=0, atol=1e-9)
    assert not weird.has_canonical_format  # the caller's matrix is left alone
    csc = weird.tocsc()
    first = csc.indptr[np.argmax(np.diff(csc.indptr) >= 2)]  # unsorted indices in one column (same matrix)
    swap = [first, first + 1]
    csc.indices[swap] = csc.indices[swap[::-1]]
    csc.data[swap] = csc.data[swap[::-1]]
    np.testing.assert_array_equal(csc.toarray(), dense)
    before = csc.indices.copy()
    np.testing.assert_allclose(neuron_factor_mi(csc, factors, chunk=6), ref, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(csc.indices, before)


def test_specialization_other_dtypes(rng):
    factors = make_factors(rng, 300)
    acts = make_acts(rng, factors, m=16, dtype=np.float64)
    np.testing.assert_allclose(neuron_factor_mi(acts, factors), ref_neuron_mi(acts, factors), atol=1e-9, rtol=0)
    ints = np.where(rng.random((300, 8)) < 0.3, rng.integers(-3, 9, (300, 8)), 0)
    np.testing.assert_allclose(neuron_factor_mi(ints, factors), ref_neuron_mi(ints, factors), atol=1e-9, rtol=0)
    t64 = torch.from_numpy(acts)
    np.testing.assert_allclose(neuron_factor_mi(t64, factors, n_bins=7), ref_neuron_mi(acts, factors, 7), atol=1e-9)


def test_specialization_errors(rng):
    with pytest.raises(ValueError, match="samples"):
        neuron_factor_mi(np.zeros((10, 3)), np.zeros((11, 2), dtype=np.int64))
    bad = np.zeros((10, 3))
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        neuron_factor_mi(bad, np.zeros((10, 2), dtype=np.int64))


def test_specialized_count():
    mi = np.array([[0.1, 0.6], [0.5, 0.2], [0.0, 0.0], [0.9, 0.8]])
    assert specialized_count(mi, 0.5) == 2  # strictly greater
    assert specialized_count(mi, 0.05) == 3
    assert specialized_count(mi, 1.0) == 0
    assert specialized_count(np.zeros((0, 3)), 0.5) == 0


# ----------------------------------------------------------------------------------------------------- dead / mse


def test_activation_rate_inputs_agree(rng):
    acts = np.where(rng.random((400, 30)) < 0.1, rng.normal(size=(400, 30)), 0.0).astype(np.float32)
    acts[:, 0] = 0.0
    acts[:, 1] = -1.0  # negative never counts as active
    acts[:, 2] = 1.0
    ref = np.array([np.mean(acts[:, i] > 0) for i in range(30)])
    np.testing.assert_array_equal(activation_rate(acts), ref)
    np.testing.assert_array_equal(activation_rate(torch.from_numpy(acts)), ref)
    np.testing.assert_array_equal(activation_rate(sp.csr_matrix(acts)), ref)
    assert activation_rate(acts)[[0, 1, 2]].tolist() == [0.0, 0.0, 1.0]


def test_activation_rate_csr_duplicates():
    m = sp.csr_matrix((np.array([0.5, -0.5, 1.0]), np.array([0, 0, 1]), np.array([0, 2, 3])), shape=(2, 2))
    np.testing.assert_array_equal(activation_rate(m), [0.0, 0.5])  # 0.5 + (-0.5) = 0 is not active


def test_dead_pct_thresholds():
    rates = np.array([0.0, 0.0005, 0.001, 0.002, 0.5])
    assert dead_pct(rates, 0.001) == pytest.approx(40.0)  # strictly below
    assert dead_pct(rates, 0.0) == 0.0
    assert dead_pct(rates, 0.0011) == pytest.approx(60.0)
    assert dead_pct(rates, 1.01) == 100.0
    with pytest.raises(ValueError):
        dead_pct(np.array([]), 0.001)


def test_pixel_mse(rng):
    from vaesae.metrics.mse import squared_error_sum

    def ref(x, r):  # the obvious loop: each value's squared difference, summed in Python floats (float64)
        total = 0.0
        for a, b in zip(np.asarray(x, dtype=np.float64).ravel().tolist(), np.asarray(r, dtype=float).ravel().tolist()):
            total += (b - a) ** 2
        return total / np.asarray(x).size

    x = np.zeros((2, 4, 4, 1))
    r = np.full((2, 4, 4, 1), 0.5)
    assert pixel_mse(x, r) == pytest.approx(0.25)
    assert pixel_mse(torch.zeros(3, 1, 2, 2), torch.ones(3, 1, 2, 2)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        pixel_mse(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError):
        pixel_mse(torch.zeros(3), torch.zeros(4))
    x, r = rng.random((3, 1, 8, 8)), rng.random((3, 1, 8, 8))
    assert pixel_mse(x, r) == pytest.approx(ref(x, r), rel=1e-12)
    assert squared_error_sum(r, x) == pytest.approx(ref(x, r) * x.size, rel=1e-12)
    # float32 tensors, as the evaluation pass accumulates them on the device: a 0-d float64 tensor
    xt, rt = torch.from_numpy(x).float(), torch.from_numpy(r).float()
    sse = squared_error_sum(rt, xt)
    assert isinstance(sse, torch.Tensor) and sse.dtype == torch.float64 and sse.dim() == 0
    assert sse.item() == pytest.approx(ref(xt.numpy(), rt.numpy()) * x.size, rel=1e-6)
    assert sse.item() == (rt - xt).pow(2).sum(dtype=torch.float64).item()  # forward_eval's former inline formula
    assert pixel_mse(xt, rt) == pytest.approx(ref(xt.numpy(), rt.numpy()), rel=1e-6)
    a, b = np.array([0, 255], dtype=np.uint8), np.array([255, 0], dtype=np.uint8)
    assert pixel_mse(a, b) == ref(a, b) == 255.0**2  # integers do not wrap around


# --------------------------------------------------------------------------------------------------------- sweep


def test_threshold_sweep_monotone(rng):
    mi = rng.random((300, 5)) ** 3
    rates = rng.random(300) * 0.02
    spec_t = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    dead_t = [0.0005, 0.001, 0.002, 0.005, 0.01]
    rows = threshold_sweep(mi, rates, spec_t, dead_t)
    assert [r["kind"] for r in rows] == ["specialization"] * 7 + ["dead"] * 5
    assert [r["threshold"] for r in rows] == spec_t + dead_t
    spec = [r["value"] for r in rows[:7]]
    dead = [r["value"] for r in rows[7:]]
    assert all(a >= b for a, b in zip(spec, spec[1:]))
    assert all(a <= b for a, b in zip(dead, dead[1:]))
    assert spec[3] == specialized_count(mi, 0.5)
    assert dead[1] == dead_pct(rates, 0.001)


def _write_eval(path, dataset, seed, phase, conv, latent, skip=None):
    with h5py.File(path, "w") as f:
        f.attrs["dataset"] = dataset
        f.attrs["seed"] = np.int64(seed)
        f.attrs["phase"] = phase
        for group, (mi, rates) in (("conv_sae", conv), ("latent_sae", latent)):
            for name, value in (("mi", mi), ("activation_rate", rates)):
                if f"{group}/{name}" != skip:
                    f.create_dataset(f"{group}/{name}", data=np.asarray(value, dtype=np.float64))


def test_sweep_cli(tmp_path):
    conv = ([[0.9, 0.1], [0.45, 0.35], [0.0, 0.0], [0.25, 0.6]], [0.0, 0.0004, 0.0015, 0.3])
    latent = ([[0.1, 0.1], [0.7, 0.0]], [0.2, 0.0])
    _write_eval(tmp_path / "a.h5", "dsprites", 0, "topk", conv, latent)
    _write_eval(tmp_path / "b.h5", "shapes3d", 2, "init", latent, conv)
    params = {"specialization_thresholds": [0.3, 0.5], "dead_thresholds": [0.0005, 0.002]}
    out = tmp_path / "sweeps" / "thresholds.csv"
    sweep_cli.main(
        ["--evals", str(tmp_path / "a.h5"), str(tmp_path / "b.h5"), "--params", json.dumps(params), "--out", str(out)]
    )
    df = pd.read_csv(out)
    assert list(df.columns) == ["dataset", "seed", "phase", "sae", "kind", "threshold", "value"]
    assert len(df) == 2 * 2 * 4 + 2 * 2  # + the conv SAE's dead floor per dead threshold
    floor = df[df.kind == "dead_floor"].set_index(["dataset", "threshold"])["value"]
    assert floor.loc[("dsprites", 0.002)] == 0.0  # budget 0.3019 / 0.002 = 150 alive >= 4 neurons
    got = {(r.dataset, r.seed, r.phase, r.sae, r.kind, r.threshold): r.value for r in df.itertuples()}
    expected = {
        ("dsprites", 0, "topk", "conv", "specialization", 0.3): 3,
        ("dsprites", 0, "topk", "conv", "specialization", 0.5): 2,
        ("dsprites", 0, "topk", "conv", "dead", 0.0005): 50.0,
        ("dsprites", 0, "topk", "conv", "dead", 0.002): 75.0,
        ("dsprites", 0, "topk", "latent", "specialization", 0.3): 1,
        ("dsprites", 0, "topk", "latent", "specialization", 0.5): 1,
        ("dsprites", 0, "topk", "latent", "dead", 0.0005): 50.0,
        ("dsprites", 0, "topk", "latent", "dead", 0.002): 50.0,
        ("shapes3d", 2, "init", "latent", "specialization", 0.3): 3,
        ("shapes3d", 2, "init", "conv", "dead", 0.002): 50.0,
    }
    for key, value in expected.items():
        assert got[key] == pytest.approx(value), key
    assert not list(out.parent.glob(".*.tmp"))  # written atomically, no leftovers


def test_sweep_cli_missing_key_names_file(tmp_path):
    conv = ([[0.9, 0.1]], [0.0])
    bad = tmp_path / "broken.h5"
    _write_eval(bad, "dsprites", 0, "topk", conv, conv, skip="latent_sae/activation_rate")
    params = json.dumps({"specialization_thresholds": [0.5], "dead_thresholds": [0.001]})
    out = tmp_path / "t.csv"
    with pytest.raises(SystemExit, match=r"broken\.h5.*latent_sae/activation_rate"):
        sweep_cli.main(["--evals", str(bad), "--params", params, "--out", str(out)])
    assert not out.exists()
    with pytest.raises(SystemExit, match="dead_thresholds"):
        _write_eval(bad, "dsprites", 0, "topk", conv, conv)
        sweep_cli.main(["--evals", str(bad), "--params", '{"specialization_thresholds": [0.5]}', "--out", str(out)])
