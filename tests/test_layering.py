"""The package's layers: the models and the sparsifiers sit below training, the config below all of them, and the
report below the workflow, the CLI and the studies across runs. An ``ast`` walk of every module (function-level and
``TYPE_CHECKING`` imports included) checks that nothing imports upwards."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

SRC = ROOT / "src"


def imported_modules(path: Path, src: Path = SRC) -> set[str]:
    """Every module ``path`` (under ``src``) imports anywhere, relative imports resolved against its package."""
    package = ".".join(path.relative_to(src).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from vaesae import train`
    return names


def upward(path: Path, above: tuple[str, ...], src: Path = SRC) -> list[str]:
    return sorted(n for n in imported_modules(path, src) if any(n == a or n.startswith(a + ".") for a in above))


#: {package: the packages it must not import}
LAYERS = {
    "vaesae/sparsifiers": ("vaesae.train", "vaesae.cli"),
    "vaesae/models": ("vaesae.train", "vaesae.cli", "vaesae.sparsifiers"),
    "vaesae/config": ("vaesae.train", "vaesae.cli", "vaesae.sparsifiers", "vaesae.models"),
    # the report renders one run's results; the workflow reads its catalogs, and the studies across runs read it
    "vaesae/report": ("vaesae.train", "vaesae.cli", "vaesae.workflow", "vaesae.studies"),
}


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_no_module_imports_a_layer_above_it(package):
    files = sorted((SRC / package).rglob("*.py"))
    assert files
    bad = {str(f.relative_to(SRC)): upward(f, LAYERS[package]) for f in files if upward(f, LAYERS[package])}
    assert not bad, bad


def test_the_walk_sees_absolute_relative_and_guarded_imports(tmp_path):
    sample = tmp_path / "vaesae/sparsifiers/probe.py"
    sample.parent.mkdir(parents=True)
    sample.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vaesae.train.config import X\n"
                      "def f():\n    from ..train import loop\nimport vaesae.schedules\n")  # fmt: skip
    assert upward(sample, ("vaesae.train",), tmp_path) == ["vaesae.train", "vaesae.train.config",
                                                           "vaesae.train.config.X", "vaesae.train.loop"]  # fmt: skip


def _loads_torch(*modules: str) -> bool:
    """Whether importing ``modules`` in a fresh interpreter loads torch."""
    code = f"import sys, {', '.join(modules)}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(SRC))).stdout.strip()  # fmt: skip
    return out == "True"


def test_the_methods_table_and_the_config_import_no_torch():
    """The Snakefile imports vaesae.methods (and through it vaesae.config.keys) at parse time: no torch."""
    assert not _loads_torch("vaesae.methods", "vaesae.config.sections", "vaesae.workflow")


@pytest.mark.parametrize("entry", ["global_metrics", "sweep", "summarize"])
def test_the_rules_that_only_read_evaluation_files_start_without_torch(entry):
    """Importing torch costs ~1.4 CPU s per job (24 global_metrics jobs in the paper run, 16 in each tiny run): the
    entry points that only read evaluation files (vaesae.evalfile's reader) do not import it."""
    assert not _loads_torch(f"vaesae.cli.{entry}")
