"""The report's golden set (tests/golden.py): the tables, claims, gates and figures that the renderers make from
committed evidence are the ones kept under tests/golden/, byte for byte (figures by the sha256 of their PNG)."""

from __future__ import annotations

import pytest

import golden


@pytest.mark.parametrize("case", sorted(golden.CASES))
def test_renderers_reproduce_the_golden_set(case, tmp_path):
    out = golden.render(golden.CASES[case], tmp_path / case)
    want = golden.texts(golden.GOLDEN / case)
    got = golden.texts(out)
    assert sorted(got) == sorted(want), "the set of rendered files changed"
    changed = [rel for rel in want if got[rel] != want[rel]]
    assert not changed, f"{case}: these outputs differ from tests/golden/{case}/ (python tests/golden.py rewrites " \
                        f"the set, only for a change meant to move them): {changed}"
    digests = golden.figure_digests(out)
    assert digests == golden.read_digests(case), f"{case}: a figure's PNG differs from its golden sha256"


def test_golden_set_covers_both_datasets_and_every_output_kind():
    for case in golden.CASES:
        files = golden.texts(golden.GOLDEN / case)
        assert {"claims.md", "claims.csv", "gates.csv", "tables/table1.md", "tables/table8.csv"} <= set(files)
        assert b"dsprites" in files["gates.csv"] and b"shapes3d" in files["gates.csv"]
        assert len(golden.read_digests(case)) == 12  # figures 1-12
