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
    if golden.digests_version(case) != golden.matplotlib_version():  # the texts above are compared whatever it is
        pytest.skip(f"golden figure digests were rendered with matplotlib {golden.digests_version(case)}, this is "
                    f"{golden.matplotlib_version()}: PNG bytes differ across versions")
    digests = golden.figure_digests(out)
    assert digests == golden.read_digests(case), f"{case}: a figure's PNG differs from its golden sha256"


def test_golden_set_covers_both_datasets_and_every_output_kind():
    for case in golden.CASES:
        files = golden.texts(golden.GOLDEN / case)
        assert {"claims.md", "claims.csv", "gates.csv", "tables/table1.md", "tables/table8.csv"} <= set(files)
        assert b"dsprites" in files["gates.csv"] and b"shapes3d" in files["gates.csv"]
        assert len(golden.read_digests(case)) == 12  # figures 1-12


@pytest.mark.parametrize("case", sorted(golden.CASES))
def test_claims_md_layout_keeps_every_verdict_value_and_reason_of_the_old_one(case):
    new = (golden.GOLDEN / case / "claims.md").read_text()
    olds = sorted((golden.GOLDEN / case).glob(golden.OLD_LAYOUTS))
    assert olds, "the old layout is kept beside the golden claims.md"
    for old in olds:
        cells = golden.layout_cells(old.read_text())
        assert len(cells) > 100  # the verdict, gate and detail tables were read
        missing = sorted(c for c in cells if c not in new)
        assert not missing, f"{old.name}: not in the new claims.md: {missing[:5]}"


@pytest.mark.parametrize("case", sorted(golden.CASES))
def test_claims_md_opens_with_one_short_row_per_claim_and_dataset(case):
    import pandas as pd

    md = (golden.GOLDEN / case / "claims.md").read_text()
    table = md.split("## Convergence gates")[0]
    rows = [line for line in table.splitlines() if line.startswith("| [C")]
    csv = pd.read_csv(golden.GOLDEN / case / "claims.csv")
    details = csv[(csv["level"] == "detail") & (csv["origin"] == "paper")]
    assert len(rows) == len(details)  # one row per claim and dataset (C4, C6: and method)
    assert max(len(line) for line in rows) < 200
    for line, verdict in zip(rows, details["verdict"]):
        assert f"**{verdict}" in line
    for claim in dict.fromkeys(details["claim"]):  # every claim's row links to its section
        assert f"[{claim}](#{claim.lower()})" in table and f"\n### {claim}\n" in md
