import math

import pytest

from vaesae import schedules


def paper_k(t: int) -> int:
    """method-notes: k = 500 for t < 5; round(50 + 450 cos(π τ / 2)), τ = (t − 5)/40, for 5 ≤ t < 45; 50 after."""
    if t < 5:
        return 500
    if t >= 45:
        return 50
    return round(50 + 450 * math.cos(math.pi * ((t - 5) / 40) / 2))


def test_k_schedule_matches_method_notes_at_every_paper_epoch():
    got = [schedules.k_schedule(t, 50, 500, 50, 0.1, 0.1) for t in range(50)]
    assert got == [paper_k(t) for t in range(50)]
    assert got[:5] == [500] * 5 and got[45:] == [50] * 5
    assert got[5] == 500 and got[44] == round(50 + 450 * math.cos(math.pi * 39 / 80))
    assert all(a >= b for a, b in zip(got, got[1:]))  # monotone non-increasing


def test_phases_scale_with_epochs():
    assert schedules.phase_lengths(50, 0.1, 0.1) == (5, 40, 5)
    assert schedules.phase_lengths(10, 0.1, 0.1) == (1, 8, 1)
    ks = [schedules.k_schedule(t, 10, 62, 6, 0.1, 0.1) for t in range(10)]
    assert ks[0] == 62 and ks[-1] == 6 and ks[1] == 62
    assert schedules.phase_lengths(3, 0.1, 0.1) == (1, 1, 1)  # short runs still reach k_end
    assert [schedules.k_schedule(t, 4, 16, 2, 0.1, 0.1) for t in range(4)] == [16, 16, 12, 2]
    with pytest.raises(ValueError, match="sparsify.epochs"):
        schedules.phase_lengths(2, 0.5, 0.5)


def test_beta_cosine_ramp():
    values = [schedules.beta_schedule(e, 30, 0.1, 1.0) for e in range(30)]
    assert values[0] == pytest.approx(0.1) and values[-1] == pytest.approx(1.0)
    assert values[15] == pytest.approx(0.1 + 0.9 * (1 - math.cos(math.pi * 15 / 29)) / 2)
    assert all(a < b for a, b in zip(values, values[1:]))


def test_l1_linear_anneal():
    values = [schedules.l1_schedule(t, 50, 0.001, 0.1) for t in range(50)]
    assert values[0] == pytest.approx(0.001) and values[-1] == pytest.approx(0.1)
    assert values[10] == pytest.approx(0.001 + 0.099 * 10 / 49)


def test_latent_k_same_fraction_at_least_one():
    assert schedules.latent_k(500, 20, 8192) == 1
    assert schedules.latent_k(4096, 20, 8192) == 10
    assert schedules.latent_k(None, 20, 8192) is None
