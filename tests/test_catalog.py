"""The report catalogs (vaesae.report.catalog): the workflow's targets and the renderers come from them, and a toy
table, figure and claim added as one function and one row each go through the three render entry points."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from conftest import load_config  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from test_report import CLAIMS_CFG, TABLE_RULES, write_run  # noqa: E402

from vaesae import DATASETS, methods  # noqa: E402
from vaesae import workflow as wf  # noqa: E402
from vaesae.cli import claims as claims_cli  # noqa: E402
from vaesae.cli import figures as figures_cli  # noqa: E402
from vaesae.cli import tables as tables_cli  # noqa: E402
from vaesae.report import catalog  # noqa: E402
from vaesae.report.catalog import FIGURES, TABLES, Entry  # noqa: E402
from vaesae.report.claims import CLAIMS, Claim  # noqa: E402


def test_the_catalogs_list_the_papers_tables_figures_and_claims():
    assert list(TABLES) == [f"table{n}" for n in range(1, 9)]
    assert list(FIGURES) == [f"figure{n:02d}" for n in range(1, 13)]
    assert list(CLAIMS) == [f"C{n}" for n in range(1, 10)]
    # beyond the paper: Table 8, Figure 12 and C9 (the only optional claim)
    assert [e.id for c in (TABLES, FIGURES, CLAIMS) for e in c.values() if e.origin == catalog.PIPELINE] == [
        "table8", "figure12", "C9"]
    assert [e.id for e in CLAIMS.values() if e.optional] == ["C9"]
    for entry in [*TABLES.values(), *FIGURES.values()]:
        assert callable(entry.resolve()), entry.id  # every row names a function that exists
    # a claim row holds its functions and its contrast (objects, which an IDE follows), not their names
    for claim in CLAIMS.values():
        assert callable(claim.rows) and callable(claim.label) and claim.rows.__name__ == f"_{claim.id.lower()}"
        assert (claim.contrast is None) == (claim.id == "C7")  # C7 compares sweep means threshold by threshold
    assert catalog.DATASET_ORDER == DATASETS == ("dsprites", "shapes3d")
    assert methods.PAPER_METHODS == ("topk", "l1")


def test_workflow_targets_come_from_the_catalogs():
    cfg = load_config(None)
    res = cfg["results_dir"]
    assert wf.table_files(cfg) == [f"{res}/tables/{t}.{ext}" for t in TABLES for ext in ("csv", "md")]
    assert wf.figure_files(cfg, "pdf") == [f"{res}/figures/{f}.pdf" for f in FIGURES]
    assert not hasattr(wf, "N_TABLES") and not hasattr(wf, "N_FIGURES")


def test_registering_checks_the_row():
    with pytest.raises(ValueError, match="already in the catalog"):
        TABLES.register(Entry("table1", "again", "vaesae.report.tables:table1", ("scalars",)))
    with pytest.raises(ValueError, match="must match"):
        FIGURES.register(Entry("figure7", "one digit", "vaesae.report.figures:figure_07"))
    with pytest.raises(ValueError, match="unknown input 'evals'"):
        TABLES.register(Entry("table99", "x", "vaesae.report.tables:table1", ("evals",)))
    with pytest.raises(ValueError, match="already in the catalog"):
        CLAIMS.register(Claim("C1", "again", "", CLAIMS["C1"].rows, CLAIMS["C1"].label))
    with pytest.raises(ValueError, match="must match"):
        CLAIMS.register(Claim("claim99", "x", "", CLAIMS["C1"].rows, CLAIMS["C1"].label))
    with pytest.raises(ValueError, match="module:function"):
        TABLES.register(Entry("table99", "x", "table1"))
    with pytest.raises(KeyError, match="option 'p_value' not given"):
        TABLES["table2"].build({"scalars": pd.DataFrame()}, {})


# ------------------------------------------------------------------------------------------- a toy of each
def toy_table(scalars):
    """Top-k dead % at k_end per dataset (mean ± std over seeds): the smallest table that reads the run."""
    from vaesae.report.tables import _cell, _frame

    rows = [_cell(float(v.mean()), float(v.std()), int(v.size), fmt=".1f", metric="dead % at k_end", dataset=d)
            for d, v in scalars[scalars["phase"] == "topk"].groupby("dataset")["dead_pct"]]
    return _frame(rows, ["metric"], "dataset", "table9")


def toy_figure(histories, datasets=None):
    fig = Figure()
    ax = fig.add_subplot()
    ax.plot(histories["epoch"], histories["dead_pct"], ".")
    ax.set_title(f"toy: {', '.join(datasets or [])}")
    return fig


def toy_claim(ctx):
    """'Top-k kills more than half the dictionary at k_end', per dataset."""
    from vaesae.report import claims

    rows = []
    for dataset, v in ctx.scalars[ctx.scalars["phase"] == "topk"].groupby("dataset")["dead_pct"]:
        row = claims._row("C10", dataset, "topk", measured=f"{v.mean():.1f}", measured_mean=float(v.mean()),
                          n=int(v.size), paper_value="n/a", rule="mean dead % > 50", tolerance="")
        rows.append(claims._decide(row, bool(v.mean() > 50), int(v.size), ctx.rules,
                                   words=(claims.SUPPORTED, claims.CONTRADICTED)))
    return rows


def toy_label(row, ctx):
    return "a finding (toy)"


@pytest.fixture
def toys():
    mod = __name__
    TABLES.register(Entry("table9", "Table 9 (toy). Top-k dead % at k_end", f"{mod}:toy_table", ("scalars",)))
    FIGURES.register(Entry("figure13", "toy", f"{mod}:toy_figure", ("histories",), ("datasets",), catalog.PIPELINE))
    CLAIMS.register(Claim("C10", "Top-k kills more than half the dictionary (toy)", "toy", toy_claim, toy_label,
                          origin=catalog.PIPELINE))
    try:
        yield
    finally:
        TABLES.unregister("table9")
        FIGURES.unregister("figure13")
        CLAIMS.unregister("C10")


def test_a_toy_table_figure_and_claim_go_end_to_end(toys, tmp_path):
    cfg = load_config(None)
    outs = wf.all_outputs(cfg)
    res = cfg["results_dir"]
    assert {f"{res}/tables/table9.csv", f"{res}/tables/table9.md", f"{res}/figures/figure13.png",
            f"{res}/figures/figure13.pdf"} <= set(outs)

    run = write_run(tmp_path / "run")
    common = ["--evaluations", str(run["evaluations"]), "--history", str(run["history"]), "--sweep", str(run["sweep"])]
    assert tables_cli.main([*common, "--benchmarks", *map(str, run["benchmarks"]), "--params", json.dumps(TABLE_RULES),
                            "--outdir", str(tmp_path / "tables")]) == 0
    md = (tmp_path / "tables/table9.md").read_text()
    assert md.startswith("## Table 9 (toy). Top-k dead % at k_end") and "dSprites" in md
    assert sorted(p.name for p in (tmp_path / "tables").glob("*.md")) == sorted(f"{t}.md" for t in TABLES)

    assert figures_cli.main([*common, "--params", json.dumps({"datasets": list(DATASETS), "dead_threshold": 0.001,
                                                                 "specialization_threshold": 0.5}),
                             "--outdir", str(tmp_path / "figures")]) == 0
    assert (tmp_path / "figures/figure13.png").stat().st_size > 1000 and (tmp_path / "figures/figure13.pdf").is_file()

    assert claims_cli.main([*common, "--params", json.dumps({**CLAIMS_CFG, "min_seeds": 2}), "--out-md", str(tmp_path / "claims.md"),
                            "--out-csv", str(tmp_path / "claims.csv")]) == 0
    verdicts = pd.read_csv(tmp_path / "claims.csv")
    toy = verdicts[verdicts["claim"] == "C10"]
    assert set(toy["level"]) == {"claim", "detail"} and set(toy["origin"]) == {"pipeline (beyond the paper)"}
    # the synthetic run's Top-k dead % is known: the toy's verdict follows it
    top = toy[toy["level"] == "claim"].iloc[0]
    scalars = pd.read_csv(run["evaluations"])
    expected = scalars[scalars["phase"] == "topk"].groupby("dataset")["dead_pct"].mean().gt(50).all()
    assert top["verdict"] == ("supported" if expected else "contradicted")  # 2 seeds: decided either way
    assert "C10" in (tmp_path / "claims.md").read_text()


def test_every_function_a_row_names_is_written_out_in_the_catalog_and_resolves():
    """No function is found by a name built from an id: each table and figure row's "module:function" appears as
    written text in catalog.py, so a search for the function finds its row (a claim row holds the function itself)."""
    import re

    from vaesae.report import catalog

    source = Path(catalog.__file__).read_text()
    literals = set(re.findall(r'"([A-Za-z0-9_.]*:?[A-Za-z0-9_]+)"', source))
    for cat in (TABLES, FIGURES):
        for entry in cat.values():
            module, _, name = entry.function.partition(":")
            assert name in literals or entry.function in literals, f"{entry.id}: {entry.function} is not written out"
            assert callable(entry.resolve())
    assert "{_id" not in source and "_id.lower()" not in source and "_id[-2:]}" not in source
