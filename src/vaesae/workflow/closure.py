"""The source files each rule lists as inputs (:func:`rule_code`), derived from the import graph of its entry module
(:func:`import_closure`), minus the written exceptions in :data:`NARROWER`."""

from __future__ import annotations

import ast
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from vaesae import methods as method_table
from vaesae.workflow.paths import SRC_DIR


@dataclass(frozen=True)
class RuleSpec:
    """What the package knows of one rule of the workflow (workflow/rules/*.smk), keyed by its name in :data:`RULES`."""

    entry: str  # the module its job runs (``python -m <entry>``): its import closure is the rule's code input
    stage: str | None = None  # the training stage it runs (its config section's ``epochs`` size the job), or None
    per_method: bool = False  # its jobs run one method's sparsifier, which the methods table names, the code input adds


#: Every rule with a job (not ``all``), by its name in the workflow; tests/test_workflow_contract.py checks that the
#: .smk files define exactly these and that each rule's helpers (code, params, mem_mb, runtime) name their own rule.
RULES = {
    "dataset": RuleSpec("vaesae.data.generate"),
    "dataset_preview": RuleSpec("vaesae.cli.preview"),
    "pretrain_vae": RuleSpec("vaesae.cli.train", stage="pretrain"),
    "init_sae": RuleSpec("vaesae.cli.train", stage="init"),
    "sparsify": RuleSpec("vaesae.cli.train", stage="sparsify", per_method=True),
    "extend": RuleSpec("vaesae.cli.train", stage="extend", per_method=True),
    "evaluate": RuleSpec("vaesae.cli.evaluate", per_method=True),
    "global_metrics": RuleSpec("vaesae.cli.global_metrics"),
    "summarize": RuleSpec("vaesae.cli.summarize"),
    "sweep": RuleSpec("vaesae.cli.sweep"),
    "tables": RuleSpec("vaesae.cli.tables"),
    "figures": RuleSpec("vaesae.cli.figures"),
    "claims": RuleSpec("vaesae.cli.claims"),
}
#: The rules that train (derived from :data:`RULES`).
TRAINING_RULES = tuple(name for name, rule in RULES.items() if rule.stage)

_MONITOR_ONLY = ("training imports the metrics only for the per-epoch monitor columns of history.csv; the final "
                 "numbers of every table come from the evaluate rule, which lists them, so a metrics edit reruns "
                 "evaluation, not 24 GPU trainings")  # fmt: skip
#: Rules deliberately narrower than their imports: {rule: {module or package prefix: reason}}.
NARROWER = {rule: dict.fromkeys(("vaesae.evaluation", "vaesae.metrics"), _MONITOR_ONLY) for rule in TRAINING_RULES}


def _module_file(name: str, src: Path) -> Path | None:
    base = src.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.lru_cache(maxsize=None)
def _imports(file: str, mtime_ns: int, size: int, src: str, top: str) -> frozenset[str]:
    """Names of the ``top`` package's modules ``file`` imports anywhere (function-level imports included), parsed once
    per version of the file (its mtime and size in the key): the ~14 closures of a workflow share most of their
    modules, and parsing each once, not once per closure, takes a tiny dry run from 3.3 to 2.0 CPU s."""
    path, src = Path(file), Path(src)
    tree = ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(src).parent.parts  # the package a relative import starts from
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ((node.module,) if node.module else ()))
            else:
                mod = node.module or ""
            names.add(mod)
            names.update(f"{mod}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return frozenset(n for n in names if n == top or n.startswith(top + "."))


@functools.lru_cache(maxsize=None)
def _closure(entries: tuple[str, ...], src: str) -> tuple[str, ...]:
    top = entries[0].split(".")[0]
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        name = todo.pop()
        # importing a.b.c runs a/__init__.py and a/b/__init__.py first
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            sub = ".".join(parts[:i])
            if sub in seen or (path := _module_file(sub, Path(src))) is None:
                continue  # None: an attribute imported with `from x import y`, not a module
            seen.add(sub)
            st = path.stat()
            todo.extend(_imports(str(path), st.st_mtime_ns, st.st_size, src, top))
    return tuple(sorted(seen))


def import_closure(*entries: str, src: Path = SRC_DIR) -> list[str]:
    """Every module of the package that importing (and running) ``entries`` can import, by an ``ast`` walk."""
    return list(_closure(tuple(entries), str(src)))


def _excluded(module: str, rule: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in NARROWER.get(rule, {}))


def rule_modules(rule: str, method: str | None = None, src: Path = SRC_DIR) -> list[str]:
    """Modules a rule's job runs: its entry's import closure (plus the method's sparsifier, which the methods table
    names as a string and the loop imports lazily), minus the rule's written exceptions."""
    entries = [RULES[rule].entry]
    if RULES[rule].per_method and method is not None:
        entries.append(method_table.get(method).module)
    return [m for m in import_closure(*entries, src=src) if not _excluded(m, rule)]


def rule_code(rule: str, method: str | None = None, src: Path = SRC_DIR, relative_to: Path | None = None) -> list[str]:
    """The source files of :func:`rule_modules`, as paths relative to ``relative_to`` (default: the working dir)."""
    return sorted(os.path.relpath(_module_file(m, src), relative_to) for m in rule_modules(rule, method, src))
