"""The catalogs of what the report renders: one row per table and figure, the single place each is declared (the
claims' rows, :class:`vaesae.report.claims.Claim`, are in :data:`vaesae.report.claims.CLAIMS`, a :class:`Catalog` of
the same kind that holds its functions as objects).

Everything that lists them is derived from these catalogs: the workflow's targets (``vaesae.workflow.table_files``,
``figure_files``), the renderers (``tables.build_tables``, ``figures.make_all_figures``, ``claims.evaluate_claims``)
and the titles. Adding a table or a figure means one function and one row here; a claim, one function and one row
in claims.py (docs/RESULTS.md "Adding a table, a figure or a claim").

A row names its function as ``"module:function"`` and the inputs it takes, so the Snakefile can read the catalogs at
parse time without importing pandas or matplotlib; :meth:`Entry.build` imports the function when a job renders and
calls it as::

    function(*[inputs[name] for name in entry.inputs], **{key: options[key] for key in entry.options},
             **dict(entry.params))

where ``inputs`` holds the loaded result frames (``scalars``: summary/evaluations.csv with SAP/DCI merged in,
``histories``: summary/history.csv, ``sweep``: sweeps/thresholds.csv, ``benchmarks``: the Snakemake benchmark files,
``contrasts``: the run's :class:`vaesae.report.contrasts.Contrasts`, each comparison computed once)
and ``options`` what the renderer was given (thresholds, the claim rules, the config's datasets).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Mapping

from vaesae import DATASETS as DATASET_ORDER  # noqa: F401 (re-exported: the order in which reports show the datasets)
#: The loaded result frames an entry may take, by name.
INPUTS = ("scalars", "histories", "sweep", "benchmarks", "contrasts")
PAPER, PIPELINE = "paper", "pipeline"


@dataclass(frozen=True)
class Entry:
    """One table or figure.

    id:       the file stem (``table1``, ``figure01``)
    title:    the table's title, the figure's subject
    function: ``"module:function"`` that builds it (a DataFrame or a matplotlib Figure)
    inputs:   the result frames it takes, positionally, in this order (names from :data:`INPUTS`)
    options:  the renderer options it takes as keywords
    origin:   ``paper`` (one of the paper's) or ``pipeline`` (beyond the paper)
    params:   keyword arguments of this row's own that the function takes besides the inputs and options, as
              (name, value) pairs: a figure's dataset and number, so that one builder draws Figures 1 and 3
    """

    id: str
    title: str
    function: str
    inputs: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    origin: str = PAPER
    params: tuple[tuple[str, Any], ...] = ()

    def resolve(self):
        """The function this row's ``"module:function"`` names, imported on first use."""
        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(module), name)

    def build(self, inputs: Mapping[str, Any], options: Mapping[str, Any] | None = None):
        options = options or {}
        missing = [k for k in self.options if k not in options]
        if missing:
            raise KeyError(f"{self.id}: option {missing[0]!r} not given")
        return self.resolve()(*[inputs[name] for name in self.inputs], **{k: options[k] for k in self.options},
                              **dict(self.params))


class Catalog(dict):
    """id -> :class:`Entry`, in report order; ``kind`` names what it holds and ``pattern`` the ids it accepts."""

    def __init__(self, kind: str, pattern: str):
        super().__init__()
        self.kind, self.pattern = kind, re.compile(pattern)

    def register(self, entry: Entry) -> Entry:
        if entry.id in self:
            raise ValueError(f"{self.kind} {entry.id!r} is already in the catalog")
        if not self.pattern.fullmatch(entry.id):
            raise ValueError(f"{self.kind} id {entry.id!r} must match {self.pattern.pattern}")
        if entry.origin not in (PAPER, PIPELINE):
            raise ValueError(f"{self.kind} {entry.id!r}: origin must be {PAPER!r} or {PIPELINE!r}")
        if not isinstance(entry, Entry):  # a claim row (vaesae.report.claims.Claim) holds its functions themselves
            self[entry.id] = entry
            return entry
        if ":" not in entry.function:
            raise ValueError(f"{self.kind} {entry.id!r}: function must be 'module:function', got {entry.function!r}")
        unknown = [name for name in entry.inputs if name not in INPUTS]
        if unknown:
            raise ValueError(f"{self.kind} {entry.id!r}: unknown input {unknown[0]!r} (one of {', '.join(INPUTS)})")
        self[entry.id] = entry
        return entry

    def unregister(self, entry_id: str) -> None:
        """Remove a row (for tests that add a toy one)."""
        del self[entry_id]


TABLES = Catalog("table", r"table[0-9]+")
FIGURES = Catalog("figure", r"figure[0-9]{2}")

# ------------------------------------------------------------------------------------------------------- tables
_T = "vaesae.report.tables:"
_TABLE_RULES = ("p_value", "mig_relative_tolerance", "mig_reference")
for _id, _title, _fn, _inputs, _options, _origin in (
    ("table1", "Table 1. Interpretability metrics at target sparsity (end of stage 3), per dataset and method",
     "table1", ("scalars",), (), PAPER),
    ("table2", "Table 2. Comparative analysis of interpretability collapse across datasets (Top-k)",
     "table2", ("scalars", "contrasts"), _TABLE_RULES, PAPER),
    ("table3", "Table 3. Extended training recovery (extra epochs at k_end, Top-k)", "table3",
     ("scalars", "contrasts"), (), PAPER),
    ("table4", "Table 4. Specialization threshold sensitivity (conv SAE, Top-k at k_end, mean over seeds)",
     "table4", ("sweep", "scalars"), (), PAPER),
    ("table5", "Table 5. Dead neuron threshold sensitivity (conv SAE, Top-k at k_end, mean over seeds)",
     "table5", ("sweep", "scalars"), (), PAPER),
    ("table6", "Table 6. Reconstruction quality at target sparsity (Top-k)",
     "table6", ("scalars", "histories", "contrasts"), ("mse_relative_tolerance",), PAPER),
    ("table7", "Table 7. Computational time per seed (minutes, from the Snakemake benchmark files)",
     "table7", ("benchmarks",), (), PAPER),
    ("table8", "Table 8 (beyond the paper). Every stage-3 method at k_end (end of stage 3), per dataset: the paper's "
               "Top-k and L1, then the remedies", "table8", ("scalars",), (), PIPELINE),
):  # fmt: skip
    TABLES.register(Entry(_id, _title, _T + _fn, _inputs, _options, _origin))

# ------------------------------------------------------------------------------------------------------ figures
# A figure row names its builder in vaesae.report.figures and the dataset and number it draws (``params``).
_F = "vaesae.report.figures:"
_THRESHOLDS = ("specialization_threshold", "dead_threshold")
for _id, _title, _fn, _inputs, _options, _params, _origin in (
    ("figure01", "dSprites: per-seed stage-3 trajectories of dead %, specialized count, MIG (and MSE), Top-k",
     "per_seed", ("histories",), (), {"dataset": "dsprites"}, PAPER),
    ("figure02", "dSprites: mean ± std over seeds of dead %, specialized and MIG through stage 3",
     "aggregated", ("histories",), (), {"dataset": "dsprites"}, PAPER),
    ("figure03", "Shapes3D: per-seed stage-3 trajectories of dead %, specialized count, MIG (and MSE), Top-k",
     "per_seed", ("histories",), (), {"dataset": "shapes3d"}, PAPER),
    ("figure04", "Shapes3D: mean ± std over seeds of dead %, specialized and MIG through stage 3",
     "aggregated", ("histories",), (), {"dataset": "shapes3d"}, PAPER),
    ("figure05", "Cross-dataset comparison: dead %, specialized and MIG against k (k decreasing), Top-k stage 3",
     "cross_dataset", ("histories",), ("datasets",), {}, PAPER),
    ("figure06", "dSprites: Top-k vs L1 for the first seed: MIG, specialized, dead % over epochs, final metrics",
     "topk_vs_l1", ("histories", "scalars"), (), {"dataset": "dsprites"}, PAPER),
    ("figure07", "Shapes3D: Top-k vs L1 for the first seed: MIG, specialized, dead % over epochs, final metrics",
     "topk_vs_l1", ("histories", "scalars"), (), {"dataset": "shapes3d"}, PAPER),
    ("figure08", "dSprites: stage-3 Top-k history then extended training on one epoch axis (first seed)",
     "extended", ("histories",), (), {"dataset": "dsprites"}, PAPER),
    ("figure09", "Shapes3D: stage-3 Top-k history then extended training on one epoch axis (first seed)",
     "extended", ("histories",), (), {"dataset": "shapes3d"}, PAPER),
    ("figure10", "dSprites: specialized count vs specialization threshold, dead % vs dead threshold, with the floor",
     "thresholds", ("sweep",), _THRESHOLDS, {"dataset": "dsprites"}, PAPER),
    ("figure11", "Shapes3D: specialized count vs specialization threshold, dead % vs dead threshold, with the floor",
     "thresholds", ("sweep",), _THRESHOLDS, {"dataset": "shapes3d"}, PAPER),
    ("figure12", "Beyond the paper: dead % and specialized count through stage 3, one line per stage-3 method",
     "every_method", ("histories",), ("datasets",), {}, PIPELINE),
):  # fmt: skip
    FIGURES.register(Entry(_id, _title, _F + _fn, _inputs, _options, _origin,
                           params=(*_params.items(), ("number", int(_id[-2:])))))

# The claims' rows are in vaesae.report.claims (CLAIMS): each holds its functions and its contrast as objects. The
# workflow never lists claims (claims.md is one file), so the Snakefile need not import them.
del _id, _title, _fn, _inputs, _options, _params, _origin
