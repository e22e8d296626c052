"""How `make test` splits the suite between its workers (tests/conftest.py; docs/TESTS.md "Two at a time")."""

from __future__ import annotations

import conftest
from conftest import HEAVY_FIRST, ROOT, group_of


def test_tests_sharing_the_tiny_run_form_one_group_and_end_to_end_modules_are_split():
    assert group_of("tests/test_workflow.py::test_second_dry_run_has_nothing_to_do") == "tiny_run"
    assert group_of("tests/test_workflow.py::test_a_reporting_choice_never_retrains[eval-dead_threshold-0.01-e]") \
        == "tiny_run"  # fmt: skip
    alone = "tests/test_workflow.py::test_paper_dag_has_the_papers_jobs"
    assert group_of(alone) == alone  # an independent end-to-end test: a group of its own
    killed = "tests/test_failures.py::test_killed_run_leaves_incomplete_markers_and_the_next_run_redoes_only_that_job"
    assert group_of(killed) == killed
    assert group_of("tests/test_sap_dci.py::test_dci_constant_latents") == "test_sap_dci.py"  # module fixtures


def test_every_test_taking_the_tiny_run_is_found_by_the_ast_scan():
    """The controller groups by node id alone (it collects nothing): the ast scan must see every test that takes
    the fixture, and nothing else."""
    found = conftest._shared_run_tests("test_workflow.py")
    text = (ROOT / "tests/test_workflow.py").read_text()
    assert set(found.values()) == {"tiny_run"} and len(found) >= 10
    assert all(f"def {name}(tiny_run" in text for name in found)
    assert "def tiny_run(" in text and "tiny_run" not in found  # the fixture itself is not a test of the group


def test_each_heavy_first_key_names_tests_that_exist():
    """A renamed heavy test would silently lose its place at the front of the queue."""
    names = {p.name for p in (ROOT / "tests").glob("test_*.py")}
    text = "\n".join((ROOT / "tests" / n).read_text() for n in names)
    for key in HEAVY_FIRST:
        assert key in names or key in conftest.SHARED_RUNS or f"def {key}" in text, key
