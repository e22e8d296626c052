"""One list per fact (issue 36): the stage names, the method colours and the history columns are declared once, and
where a second copy has to stay (the training code's own list, which the training rules list as code: moving it
would rerun every training), a test fails as soon as the two drift."""

from __future__ import annotations

import re

from conftest import ROOT

from vaesae import methods
from vaesae.config.sections import SECTIONS
from vaesae.report import collect, style
from vaesae.train import loop
from vaesae.train.stages import STAGES as STAGE_CLASSES

SRC = ROOT / "src" / "vaesae"


def test_the_stage_names_are_the_methods_tables_and_nobody_spells_them_out_again():
    assert methods.STAGES == tuple(STAGE_CLASSES) == tuple(loop.STAGE_SEED_OFFSET)
    assert set(methods.STAGES) <= set(SECTIONS)  # each stage has its config section
    spelled = re.compile(r"""["']pretrain["'],\s*["']init["'],\s*["']sparsify["'],\s*["']extend["']""")
    copies = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if spelled.search(p.read_text()))
    # config/sections.py lists the config's blocks, the stages' among them (checked above); it is training code
    assert copies == ["config/sections.py", "methods.py"]


def test_every_method_of_the_methods_table_has_its_colour_and_no_other():
    assert set(style.METHOD_COLORS) == set(methods.METHODS)
    assert len({tuple(c) for c in style.METHOD_COLORS.values()}) == len(style.METHOD_COLORS)  # all distinct


def test_the_report_keeps_every_history_column_training_writes():
    """summary/history.csv drops nothing a run's history.csv holds (loss_aux, l0 and l0_latent were dropped
    silently before); the report's extra columns are the thresholded ones ``vaesae.summary`` computes."""
    written = list(loop.HISTORY_COLUMNS)
    assert set(written) <= set(collect.HISTORY_COLUMNS), sorted(set(written) - set(collect.HISTORY_COLUMNS))
    formats = (ROOT / "docs" / "FORMATS.md").read_text()
    missing = [c for c in collect.HISTORY_COLUMNS if f"`{c}`" not in formats]
    assert missing == [], f"docs/FORMATS.md does not describe the history column(s) {missing}"


def test_no_second_evaluation_column_list():
    text = {p: p.read_text() for p in SRC.rglob("*.py")}
    first = re.compile(r'"n_bins",\s*"mig", "mse", "dead_pct"')
    assert [str(p.relative_to(SRC)) for p, t in text.items() if first.search(t)] == ["columns.py"]
