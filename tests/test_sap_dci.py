"""SAP and DCI against slow, obvious references (disentanglement_lib's loops, scipy.stats.entropy) and hand-made
representations with known answers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from vaesae.metrics.dci import DciResult, dci, dci_scores
from vaesae.metrics.extra import sap_dci
from vaesae.metrics.sap import SapResult, sap, split_train_test

SIZES = (2, 3, 4)  # small factors keep gradient boosting (one tree per class and stage) fast

# ----------------------------------------------------------------------------------------------- slow references


def ref_sap(z_tr, v_tr, z_te, v_te, dual=False):
    """disentanglement_lib's _compute_score_matrix / _compute_avg_diff_top_two, samples-first, with single-valued
    factors left out and constant latents predicting the majority class."""
    n_latents, n_factors = z_tr.shape[1], v_tr.shape[1]
    matrix = np.full((n_latents, n_factors), np.nan)
    for j in range(n_factors):
        if len(set(v_tr[:, j].tolist())) < 2:
            continue
        for i in range(n_latents):
            if z_tr[:, i].min() == z_tr[:, i].max():
                values, counts = np.unique(v_tr[:, j], return_counts=True)
                pred = np.full(len(v_te), values[np.argmax(counts)])
            else:
                clf = LinearSVC(C=0.01, class_weight="balanced", dual=dual)
                clf.fit(z_tr[:, i][:, np.newaxis], v_tr[:, j])
                pred = clf.predict(z_te[:, i][:, np.newaxis])
            matrix[i, j] = np.mean(pred == v_te[:, j])
    keep = ~np.isnan(matrix[0])
    sorted_matrix = np.sort(matrix[:, keep], axis=0)
    return np.mean(sorted_matrix[-1, :] - sorted_matrix[-2, :]), matrix


def ref_disentanglement(r):
    """disentanglement_lib's disentanglement()."""
    per_code = 1.0 - scipy.stats.entropy(r.T + 1e-11, base=r.shape[1])
    if r.sum() == 0.0:
        r = np.ones_like(r)
    return np.sum(per_code * r.sum(axis=1) / r.sum())


def ref_completeness(r):
    """disentanglement_lib's completeness()."""
    per_factor = 1.0 - scipy.stats.entropy(r + 1e-11, base=r.shape[0])
    if r.sum() == 0.0:
        r = np.ones_like(r)
    return np.sum(per_factor * r.sum(axis=0) / r.sum())


def ref_dci(z_tr, v_tr, z_te, v_te, model="gbt", seed=0):
    """disentanglement_lib's compute_importance_gbt + scores, over the factors with >= 2 training classes."""
    keep = [j for j in range(v_tr.shape[1]) if len(set(v_tr[:, j].tolist())) >= 2]
    r = np.zeros((z_tr.shape[1], len(keep)))
    acc_tr, acc_te = [], []
    for col, j in enumerate(keep):
        if model == "gbt":
            clf = GradientBoostingClassifier(random_state=seed)
        else:
            clf = RandomForestClassifier(n_estimators=50, random_state=seed, n_jobs=1)
        clf.fit(z_tr, v_tr[:, j])
        r[:, col] = np.abs(clf.feature_importances_)
        acc_tr.append(np.mean(clf.predict(z_tr) == v_tr[:, j]))
        acc_te.append(np.mean(clf.predict(z_te) == v_te[:, j]))
    return ref_disentanglement(r), ref_completeness(r), np.mean(acc_tr), np.mean(acc_te), r, keep


# ------------------------------------------------------------------------------------------------------ fixtures


def make_factors(rng, n, sizes=SIZES):
    return np.stack([rng.integers(0, k, n) for k in sizes], axis=1).astype(np.int64)


def split(z, v, seed=0):
    tr, te = split_train_test(len(z), 0.75, seed)
    return z[tr], v[tr], z[te], v[te]


def mixed_latents(rng, v):
    """Noisy codes of each factor, a rotated pair, pure noise and a constant latent."""
    n = len(v)
    z = np.empty((n, 6), dtype=np.float32)
    z[:, 0] = v[:, 0] + 0.3 * rng.normal(size=n)
    z[:, 1] = v[:, 1] + 0.6 * v[:, 2] + 0.3 * rng.normal(size=n)
    z[:, 2] = v[:, 2] - 0.5 * v[:, 1] + 0.3 * rng.normal(size=n)
    z[:, 3] = rng.normal(size=n)
    z[:, 4] = 1.5  # constant
    z[:, 5] = 0.1 * v[:, 2] + rng.normal(size=n)
    return z


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(2024)


@pytest.fixture(scope="module")
def mixed(rng):
    v = make_factors(rng, 600, (2, 3, 4, 1))  # the last factor takes a single value
    return split(mixed_latents(rng, v), v)


def copy_latents(rng, n, sizes):
    """Each latent copies one factor (plus a little noise)."""
    v = make_factors(rng, n, sizes)
    return split(v + 0.01 * rng.normal(size=v.shape), v)


@pytest.fixture(scope="module")
def copies(rng):
    return copy_latents(rng, 600, SIZES)


@pytest.fixture(scope="module")
def entangled(rng):
    """Latent 0 encodes every factor at once (mixed radix); the others are noise."""
    v = make_factors(rng, 600)
    z = rng.normal(size=(600, 3))
    z[:, 0] = v[:, 0] + 2 * v[:, 1] + 6 * v[:, 2] + 0.01 * rng.normal(size=600)
    return split(z, v)


@pytest.fixture(scope="module")
def noise(rng):
    v = make_factors(rng, 2000)
    return split(rng.normal(size=(2000, 4)), v)


# ------------------------------------------------------------------------------------------------------ split


def test_split_train_test():
    tr, te = split_train_test(10_000)
    assert tr.dtype == np.int64 and te.dtype == np.int64
    assert len(tr) == 8000 and len(te) == 2000
    assert np.all(np.diff(tr) > 0) and np.all(np.diff(te) > 0)
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, te])), np.arange(10_000))
    tr2, te2 = split_train_test(10_000)
    np.testing.assert_array_equal(tr, tr2)
    assert not np.array_equal(tr, split_train_test(10_000, seed=1)[0])
    assert len(split_train_test(10, 0.5)[0]) == 5
    assert te[:20].tolist() != list(range(8000, 8020))  # random, not a head/tail cut
    for bad in ((10, 0.0), (10, 1.0), (1, 0.5), (10, 0.01)):
        with pytest.raises(ValueError):
            split_train_test(*bad)


# ------------------------------------------------------------------------------------------------------ SAP


def test_sap_matches_reference(mixed):
    got = sap(*mixed)
    assert isinstance(got, SapResult)
    score, matrix = ref_sap(*mixed)
    assert got.matrix.shape == (6, 4)
    np.testing.assert_allclose(got.matrix, matrix, rtol=0, atol=0)  # NaN column for the single-valued factor
    assert got.score == pytest.approx(score, abs=1e-12)
    assert got.matrix[0, 0] > 0.9 and got.score > 0.2


def test_sap_primal_solver_agrees_with_disentanglement_libs_dual(mixed):
    z_tr, v_tr, z_te, v_te = mixed
    z_tr, z_te = np.delete(z_tr, 4, axis=1), np.delete(z_te, 4, axis=1)  # no constant latent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        score, matrix = ref_sap(z_tr, v_tr, z_te, v_te, dual=True)
    got = sap(z_tr, v_tr, z_te, v_te)
    np.testing.assert_allclose(got.matrix, matrix, atol=0.02)
    assert got.score == pytest.approx(score, abs=0.02)


def test_sap_copies(rng):
    """A latent copying an easy (2- or 3-class) factor predicts it perfectly; every other latent is independent of
    the factor and sits near chance (1/K), so the top-two gap is about 1 - 1/K: accuracy-based SAP cannot reach 1."""
    sizes = (2, 2, 3)
    got = sap(*copy_latents(rng, 2000, sizes))
    np.testing.assert_array_equal(np.diag(got.matrix), 1.0)
    off = ~np.eye(3, dtype=bool)
    chance = np.broadcast_to(1.0 / np.array(sizes), (3, 3))
    assert np.all(np.abs(got.matrix - chance)[off] < 0.06), got.matrix
    gaps = 1.0 - got.matrix.max(axis=0, where=off, initial=0.0)
    assert got.score == pytest.approx(gaps.mean())
    assert got.score == pytest.approx(np.mean(1.0 - 1.0 / np.array(sizes)), abs=0.05)
    four = sap(*copy_latents(rng, 2000, (2, 4, 40)))  # a single linear one-vs-rest cut per class loses middle classes
    assert four.matrix[0, 0] == 1.0 and four.matrix[1, 1] < 1.0 and four.matrix[2, 2] < 0.5


def test_sap_noise_is_zero(noise):
    got = sap(*noise)
    assert got.score < 0.05
    chance = 1.0 / np.array(SIZES)
    assert np.all(np.abs(got.matrix - chance) < 0.1)


def test_sap_constant_latents(rng):
    v = make_factors(rng, 400, (2, 5, 3))
    v[:150, 1] = 4  # class 4 is the majority of factor 1 in train
    z = np.stack([np.zeros(400), np.full(400, -2.0), v[:, 0] + 0.0], axis=1)
    tr, te = np.arange(300), np.arange(300, 400)
    got = sap(z[tr], v[tr], z[te], v[te])
    for j in range(3):
        values, counts = np.unique(v[tr, j], return_counts=True)
        majority_acc = np.mean(v[te, j] == values[np.argmax(counts)])
        assert got.matrix[0, j] == majority_acc and got.matrix[1, j] == majority_acc
    assert got.matrix[1, 1] == np.mean(v[te, 1] == 4)
    assert got.matrix[2, 0] == 1.0
    only_constant = sap(z[tr, :2], v[tr], z[te, :2], v[te])
    assert only_constant.score == 0.0


def test_sap_single_valued_factor_excluded(mixed):
    z_tr, v_tr, z_te, v_te = mixed
    got = sap(z_tr, v_tr, z_te, v_te)
    without = sap(z_tr, v_tr[:, :3], z_te, v_te[:, :3])
    assert got.score == without.score
    assert np.all(np.isnan(got.matrix[:, 3]))
    np.testing.assert_array_equal(got.matrix[:, :3], without.matrix)
    with pytest.raises(ValueError, match="single value"):
        sap(z_tr, v_tr[:, 3:], z_te, v_te[:, 3:])


def test_sap_rejects_bad_shapes(mixed):
    z_tr, v_tr, z_te, v_te = mixed
    with pytest.raises(ValueError, match="2 latent"):
        sap(z_tr[:, :1], v_tr, z_te[:, :1], v_te)
    with pytest.raises(ValueError):
        sap(z_tr[:-1], v_tr, z_te, v_te)
    with pytest.raises(ValueError):
        sap(z_tr, v_tr, z_te[:, :3], v_te)
    with pytest.raises(ValueError):
        sap(z_tr[:, 0], v_tr, z_te, v_te)


# ------------------------------------------------------------------------------------------------------ DCI


def test_dci_scores_match_reference(rng):
    for trial in range(40):
        n_codes, n_factors = rng.integers(2, 12), rng.integers(2, 7)
        r = rng.random((n_codes, n_factors)) ** rng.uniform(0.5, 8)
        r[rng.random(r.shape) < 0.3] = 0.0
        if trial % 4 == 0:
            r[0] = 0.0  # unused code
        if trial % 4 == 1:
            r[:, 0] = 0.0  # factor nobody explains
        if trial % 4 == 2:
            r /= r.sum(axis=0, keepdims=True).clip(1e-300)  # columns normalized like tree importances
        d, c = dci_scores(r)
        assert d == pytest.approx(ref_disentanglement(r), abs=1e-12)
        assert c == pytest.approx(ref_completeness(r), abs=1e-12)
        if trial % 4 == 2 and np.all(r.sum(axis=0) > 0):  # the plain mean over factors of the brief's formula
            h = np.array([scipy.stats.entropy(r[:, j], base=n_codes) for j in range(n_factors)])
            assert c == pytest.approx(np.mean(1 - h), abs=1e-9)


def test_dci_scores_known_values():
    assert dci_scores(np.eye(4)) == pytest.approx((1.0, 1.0), abs=1e-8)
    assert dci_scores(np.ones((4, 3))) == pytest.approx((0.0, 0.0), abs=1e-12)
    assert dci_scores(np.zeros((4, 3))) == (0.0, 0.0)
    d, c = dci_scores(np.array([[1.0, 1.0], [0.0, 0.0]]))  # one code serves both factors
    assert d == pytest.approx(0.0, abs=1e-8) and c == pytest.approx(1.0, abs=1e-8)
    d, c = dci_scores(np.array([[0.5], [0.5]]))  # a single factor: base 1, every code trivially devoted
    assert d == 1.0 and c == pytest.approx(0.0, abs=1e-12)
    assert dci_scores(np.array([[0.2, 0.8]])) == pytest.approx((1 - scipy.stats.entropy([0.2, 0.8], base=2), 1.0))
    with pytest.raises(ValueError):
        dci_scores(-np.eye(2))


@pytest.mark.parametrize("model", ["gbt", "rf"])
def test_dci_matches_reference(mixed, model):
    got = dci(*mixed, model=model, seed=3)
    assert isinstance(got, DciResult)
    d, c, i_tr, i_te, r, keep = ref_dci(*mixed, model=model, seed=3)
    assert keep == [0, 1, 2]
    np.testing.assert_array_equal(got.importance[:, keep], r)
    assert np.all(np.isnan(got.importance[:, 3]))
    assert got.disentanglement == pytest.approx(d, abs=1e-12)
    assert got.completeness == pytest.approx(c, abs=1e-12)
    assert got.informativeness_train == pytest.approx(i_tr, abs=1e-12)
    assert got.informativeness_test == pytest.approx(i_te, abs=1e-12)
    assert np.all(got.importance[4, keep] == 0.0)  # the constant latent is never split on
    again = dci(*mixed, model=model, seed=3)
    np.testing.assert_array_equal(again.importance, got.importance)


def test_dci_copies(copies):
    got = dci(*copies)
    assert got.disentanglement > 0.99 and got.completeness > 0.99
    assert got.informativeness_train == 1.0 and got.informativeness_test == 1.0
    assert np.all(np.argmax(got.importance, axis=0) == np.arange(3))


def test_dci_copies_random_forest(copies):
    """The forest looks at sqrt(L) random latents per split and grows its trees to purity, so part of the importance
    goes to latents that carry nothing: D and C come out well below gradient boosting's."""
    got = dci(*copies, model="rf")
    assert 0.4 < got.disentanglement < 0.9 and 0.4 < got.completeness < 0.9
    assert got.informativeness_test == 1.0
    assert np.all(np.argmax(got.importance, axis=0) == np.arange(3))


@pytest.mark.parametrize("model", ["gbt", "rf"])
def test_dci_entangled(entangled, model):
    got = dci(*entangled, model=model)
    assert got.disentanglement < 0.1  # the one informative code serves all three factors
    assert got.disentanglement < got.completeness
    assert np.all(np.argmax(got.importance, axis=0) == 0)
    assert got.informativeness_test > (0.9 if model == "gbt" else 0.7)
    if model == "gbt":
        assert got.completeness > 0.8  # each factor is read from that one code


def test_dci_noise_informativeness_near_chance(noise):
    got = dci(*noise, model="rf")
    chance = np.mean(1.0 / np.array(SIZES))
    assert got.informativeness_test == pytest.approx(chance, abs=0.06)
    assert got.informativeness_train > 0.9  # memorized, not learned


def test_dci_constant_latents(rng):
    v = make_factors(rng, 300)
    z = np.full((300, 3), 0.25)
    z[:, 2] = -1.0
    tr, te = np.arange(200), np.arange(200, 300)
    for model in ("gbt", "rf"):
        got = dci(z[tr], v[tr], z[te], v[te], model=model)
        assert got.disentanglement == 0.0 and got.completeness == 0.0
        assert np.all(got.importance == 0.0)
        majority = np.mean([np.mean(v[te, j] == np.bincount(v[tr, j]).argmax()) for j in range(3)])
        assert got.informativeness_test == pytest.approx(majority)


def test_dci_single_valued_factor_excluded(mixed):
    z_tr, v_tr, z_te, v_te = mixed
    got = dci(z_tr, v_tr, z_te, v_te, model="rf")
    without = dci(z_tr, v_tr[:, :3], z_te, v_te[:, :3], model="rf")
    assert got[:4] == without[:4]
    np.testing.assert_array_equal(got.importance[:, :3], without.importance)
    with pytest.raises(ValueError, match="single value"):
        dci(z_tr, v_tr[:, 3:], z_te, v_te[:, 3:])
    with pytest.raises(ValueError, match="model"):
        dci(z_tr, v_tr, z_te, v_te, model="svm")


# ------------------------------------------------------------------------------------------------------ sap_dci


def test_sap_dci(rng):
    v = make_factors(rng, 500, (2, 3, 1))
    z = mixed_latents(rng, np.concatenate([v[:, :2], v[:, :1]], axis=1))
    got = sap_dci(z, v, train_fraction=0.7, seed=5, dci_model="rf")
    assert set(got) == {"sap", "dci_disentanglement", "dci_completeness", "dci_informativeness"}
    assert all(type(value) is float for value in got.values())
    tr, te = split_train_test(500, 0.7, 5)
    parts = (z[tr], v[tr], z[te], v[te])
    d = dci(*parts, model="rf", seed=5)
    assert got["sap"] == sap(*parts).score
    assert got["dci_disentanglement"] == d.disentanglement
    assert got["dci_completeness"] == d.completeness
    assert got["dci_informativeness"] == d.informativeness_test
    assert sap_dci(z, v, seed=5, train_fraction=0.7, dci_model="rf") == got
    default = sap_dci(z[:200], v[:200])  # gradient boosting
    assert 0.0 <= default["dci_disentanglement"] <= 1.0 and 0.0 <= default["sap"] <= 1.0
    with pytest.raises(ValueError):
        sap_dci(z, v[:-1])
