"""The comparisons the paper makes, each declared once (a :class:`Contrast`) and computed once per (contrast,
dataset, condition) by :class:`Contrasts`, which the tables and the claims read. Nothing else calls the comparison
functions of :mod:`vaesae.report.stats` (a test checks it), so Table 2 and claim C3, Table 3 and C5, Table 6 and C4,
Table 2's complexity factor and C6 cannot drift apart.

Kinds (formulas in :mod:`vaesae.report.stats`), over the evaluation scalars (one row per dataset, seed, phase):

- ``paired``:     per-seed b − a of ``column`` at phases a and b (:func:`~vaesae.report.stats.compare_paired`)
- ``relative``:   per-seed (b − a) / a, seeds with a > 0 (:func:`~vaesae.report.stats.relative_change`)
- ``ratio``:      mean of ``column`` at phase b on the dataset asked for / its mean on dataset a (the complexity
  scaling factor; :func:`~vaesae.report.stats.ratio_comparison`)
- ``one-sample``: per-seed values at phase b against a reference mean (the paper's; passed to :meth:`Contrasts.get`)
- ``MSE over stage 3``: per-seed relative MSE change from the first to the last stage-3 epoch of the phase-b run's
  history. Its one allowed fallback (``fallback=True``): where no seed has two stage-3 epochs, phase a (``init``)
  to phase b of the evaluation files (contrast ``"(b - init) / init"``; :func:`~vaesae.report.stats.mse_change`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from vaesae.report import stats
from vaesae.report.stats import Comparison

PAIRED, RELATIVE, RATIO, ONE_SAMPLE, MSE_OVER_STAGE3 = "paired", "relative", "ratio", "one-sample", "MSE over stage 3"
KINDS = (PAIRED, RELATIVE, RATIO, ONE_SAMPLE, MSE_OVER_STAGE3)


@dataclass(frozen=True)
class Contrast:
    """One comparison: ``kind`` of ``column`` from phase ``a`` to phase ``b`` (a ratio: from dataset ``a`` to the
    dataset asked for, both at phase ``b``); ``fallback``: the MSE contrast may fall back to the evaluation files."""

    kind: str
    column: str
    a: str
    b: str
    fallback: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"contrast kind must be one of {KINDS}, got {self.kind!r}")
        if self.fallback and self.kind != MSE_OVER_STAGE3:
            raise ValueError("only the MSE-over-stage-3 contrast has a fallback")

    @property
    def name(self) -> str:
        """The contrast as the tables' notes write it (``"topk - init"``, ``"(topk - init) / init"``)."""
        if self.kind == RELATIVE:
            return f"({self.b} - {self.a}) / {self.a}"
        if self.kind == RATIO:
            return f"{{dataset}} / {self.a}"
        if self.kind == MSE_OVER_STAGE3:
            return stats.MSE_STAGE3
        return f"{self.b} - {self.a}"


# ------------------------------------------------------------------------------ the comparisons the paper makes
def change(column: str, a: str, b: str = "topk") -> Contrast:
    """Paired change of ``column`` from phase ``a`` to ``b`` (Table 2's metric changes, C2, C3, C5, C8, C9)."""
    return Contrast(PAIRED, column, a, b)


def relative(column: str, a: str, b: str = "topk") -> Contrast:
    """Per-seed relative change of ``column`` from ``a`` to ``b`` (Table 2's labels and C3; Table 3)."""
    return Contrast(RELATIVE, column, a, b)


def mse_over_stage3(method: str) -> Contrast:
    """Relative MSE change over the ``method`` run's stage 3, with the evaluation-file fallback (Table 6, C4)."""
    return Contrast(MSE_OVER_STAGE3, "mse", "init", method, fallback=True)


def complexity_ratio(method: str, baseline: str = "dsprites") -> Contrast:
    """Dead % of a dataset over the ``baseline`` dataset's, at phase ``method`` (Table 2's factor, C6)."""
    return Contrast(RATIO, "dead_pct", baseline, method)


#: The paper's fixed comparisons (the ones that depend on a config key or a method are built by the functions above).
DEAD_VS_PAPER = Contrast(ONE_SAMPLE, "dead_pct", "", "topk")  # C1: against the paper's mean
DEAD_L1_VS_TOPK = change("dead_pct", "topk", "l1")  # C2
DEAD_EXTENDED = change("dead_pct", "topk", "topk_extended")  # Table 3, C5
SPECIALIZED_EXTENDED = relative("specialized", "topk", "topk_extended")  # Table 3
SPECIALIZED_FALL = change("specialized", "init", "topk")  # C8


class Contrasts:
    """The comparisons of one run's results, each computed on first use and kept: ``get(contrast, dataset)``.

    ``scalars``: the evaluation scalars (summary/evaluations.csv); ``histories``: summary/history.csv (or None).
    """

    def __init__(self, scalars: pd.DataFrame, histories: pd.DataFrame | None = None):
        self.scalars, self.histories = scalars, histories
        self._done: dict[tuple, Comparison] = {}

    def get(self, contrast: Contrast, dataset: str, reference: float | None = None) -> Comparison:
        """The comparison of ``contrast`` on ``dataset`` (a one-sample contrast: against ``reference``)."""
        key = (contrast, dataset, reference)
        if key not in self._done:
            self._done[key] = self._compute(contrast, dataset, reference)
        return self._done[key]

    def __len__(self) -> int:
        return len(self._done)

    def _compute(self, c: Contrast, dataset: str, reference: float | None) -> Comparison:
        s = self.scalars if c.column in self.scalars.columns else self.scalars.assign(**{c.column: float("nan")})
        if c.kind == PAIRED:
            return stats.compare_paired(stats.paired(s, dataset, c.a, c.b, c.column), c.name, dataset, c.column)
        if c.kind == RELATIVE:
            return stats.relative_change(stats.paired(s, dataset, c.a, c.b, c.column), c.name, dataset, c.column)
        if c.kind == RATIO:
            at = s[s["phase"] == c.b]
            return stats.ratio_comparison(at.loc[at["dataset"] == dataset, c.column].dropna(),
                                          at.loc[at["dataset"] == c.a, c.column].dropna(),
                                          f"{dataset} / {c.a}", dataset, c.b)
        if c.kind == ONE_SAMPLE:
            if reference is None:
                raise ValueError(f"the one-sample contrast of {c.column} needs a reference value")
            values = s[(s["dataset"] == dataset) & (s["phase"] == c.b)].set_index("seed")[c.column]
            return stats.one_sample(values.dropna().sort_index(), reference, dataset, c.b)
        return stats.mse_change(self.histories, dataset, c.b, s if c.fallback else None)
