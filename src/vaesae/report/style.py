"""One plotting style for every figure: seaborn theme, colour palettes, display names, atomic PNG + PDF output.

Figures are built on :class:`matplotlib.figure.Figure` directly (no ``pyplot``, so no GUI backend and no global
figure state): rendering works headless and never leaks figures between calls.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib as mpl
import seaborn as sns
from matplotlib.figure import Figure

from vaesae import DATASETS, methods as method_table
from vaesae.io import atomic_path

DPI = 150

#: Display names; a method or a phase not listed here takes its label from the methods table
#: (``vaesae.methods``), and any other id is shown as it is.
DATASET_LABELS = {"dsprites": "dSprites", "shapes3d": "Shapes3D"}
PHASE_LABELS = {
    "init": "k_start (end of stage 2)",
    "topk": "Top-k (k_end)",
    "l1": "L1",
    "topk_extended": "Top-k extended",
}

_COLORBLIND = sns.color_palette("colorblind", 10)
#: Fixed colours, so that a dataset or method has the same colour in every figure.
DATASET_COLORS = {"dsprites": _COLORBLIND[0], "shapes3d": _COLORBLIND[3]}
METHOD_COLORS = {
    "topk": _COLORBLIND[2],
    "l1": _COLORBLIND[1],
    # the remedies (beyond the paper): one fixed colour each, distinct from the paper's two methods
    "topk_auxk": _COLORBLIND[0],
    "batchtopk": _COLORBLIND[4],
    "jumprelu": _COLORBLIND[5],
    "topk_centred": _COLORBLIND[9],
    # the controls (beyond the paper, not remedies)
    "topk_detached": _COLORBLIND[3],
}
STAGE_COLORS = {"sparsify": _COLORBLIND[0], "extend": _COLORBLIND[4], "init": _COLORBLIND[7]}
#: Colours of the default-threshold marker lines (red for specialization, blue for dead, as in Figs. 10-11).
DEFAULT_LINE_COLORS = {"specialization": "#c0392b", "dead": "#2c6fbb"}


def dataset_label(name) -> str:
    return DATASET_LABELS.get(str(name), str(name))


def method_label(name) -> str:
    """Display name of a method: the methods table's ``label`` (``Top-k + AuxK``); a phase ``{method}_extended``
    reads "<label> extended"; any other id is shown as it is."""
    name = str(name)
    if name in method_table.METHODS:
        return method_table.METHODS[name].label
    if name.endswith("_extended") and name[: -len("_extended")] in method_table.METHODS:
        return f"{method_label(name[: -len('_extended')])} extended"
    return name


def is_control_method(name) -> bool:
    """A control arm (the methods table's ``control`` flag, e.g. the stop-gradient Top-k), not a remedy."""
    m = method_table.METHODS.get(str(name))
    return bool(m is not None and m.control)


def is_paper_method(name) -> bool:
    """One of the paper's methods (Top-k, L1), by the methods table's ``paper`` flag; unknown methods are not."""
    m = method_table.METHODS.get(str(name))
    return bool(m is not None and m.paper)


def method_order(names) -> list[str]:
    """The distinct methods among ``names``: the paper's first, then the others of the methods table (the
    remedies, beyond the paper), each in table order, then any name the table lacks, sorted."""
    present = {str(n) for n in names if n is not None and n == n}
    table = list(method_table.METHODS)
    paper = [m for m in table if m in present and is_paper_method(m)]
    beyond = [m for m in table if m in present and not is_paper_method(m)]
    return paper + beyond + sorted(present - set(table))


def phase_label(name) -> str:
    """Display name of an evaluation phase: :data:`PHASE_LABELS`, else the method's label (``{method}_extended``:
    "<label> extended", the end of stage 3 of a k-based method: "<label> (k_end)")."""
    name = str(name)
    if name in PHASE_LABELS:
        return PHASE_LABELS[name]
    if name in method_table.METHODS:
        m = method_table.METHODS[name]
        return f"{m.label} (k_end)" if "k_end" in m.keys else m.label
    return method_label(name)


def dataset_color(name):
    """Colour of a dataset; unknown datasets get the next colours of the same palette."""
    name = str(name)
    if name in DATASET_COLORS:
        return DATASET_COLORS[name]
    return _COLORBLIND[(5 + sum(map(ord, name))) % len(_COLORBLIND)]


def method_color(name):
    name = str(name)
    if name in METHOD_COLORS:
        return METHOD_COLORS[name]
    return _COLORBLIND[(6 + sum(map(ord, name))) % len(_COLORBLIND)]


def seed_colors(seeds) -> dict:
    """One distinct colour per seed (sorted), from a sequential-free qualitative palette."""
    seeds = sorted(seeds)
    palette = sns.color_palette("tab10", max(len(seeds), 1))
    return {seed: palette[i % len(palette)] for i, seed in enumerate(seeds)}


def apply_style() -> None:
    """Set the seaborn theme and matplotlib defaults used by every figure (idempotent)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind", font_scale=0.9)
    mpl.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": DPI,
            "savefig.bbox": "tight",
            "axes.titlesize": 11,
            "axes.titleweight": "bold",
            "axes.labelsize": 10,
            "figure.titlesize": 13,
            "figure.titleweight": "bold",
            "legend.fontsize": 8.5,
            "legend.frameon": True,
            "legend.framealpha": 0.85,
            "lines.linewidth": 1.8,
            "lines.markersize": 4,
            "pdf.fonttype": 42,  # embed TrueType: editable text in the PDF
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )


def new_figure(figsize=(10, 6)) -> Figure:
    """A figure detached from pyplot, with the project style and constrained layout."""
    apply_style()
    return Figure(figsize=figsize, layout="constrained")


def save_figure(fig: Figure, path_png: str | os.PathLike, dpi: int = DPI) -> tuple[Path, Path]:
    """Write ``fig`` to ``path_png`` (PNG, ``dpi``) and to the same name with ``.pdf``, each atomically.

    Returns the two paths written.
    """
    png = Path(path_png)
    if png.suffix.lower() != ".png":
        raise ValueError(f"save_figure expects a .png path, got {png}")
    pdf = png.with_suffix(".pdf")
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    with atomic_path(pdf) as tmp:
        fig.savefig(tmp, format="pdf", bbox_inches="tight", metadata={"CreationDate": None})
    return png, pdf


def _datasets_of(scalars) -> list[str]:
    """The datasets of a frame in report order (``vaesae.DATASETS``), then any other by name."""
    present = list(dict.fromkeys(scalars["dataset"].dropna().tolist()))
    return sorted(present, key=lambda d: (DATASETS.index(d) if d in DATASETS else len(DATASETS), d))


def data_source_note(scalars) -> str:
    """"Data: dSprites: real (downloaded, checksum verified); Shapes3D: procedural (...)" from the evaluations."""
    return "Data: " + data_sources(scalars)


def data_sources(scalars) -> str:
    """Which data each dataset's numbers came from: real (downloaded / user file) or procedural, with its name."""
    parts = []
    if "data_source" not in scalars:
        return "source not recorded"
    for dataset in _datasets_of(scalars):
        cur = scalars[scalars["dataset"] == dataset]
        if cur["data_source"].notna().any():  # rows derived from the epoch table (warm-up) carry no source
            cur = cur[cur["data_source"].notna()]
        labels = []
        for source, desc in cur[["data_source", "data_description"]].drop_duplicates().itertuples(index=False):
            if source is None or (isinstance(source, float) and math.isnan(source)):
                labels.append("source not recorded")
            elif source == "procedural":
                labels.append(f"procedural, not the real images ({desc})")
            else:
                how = "downloaded, checksum verified" if source == "download" else "user-supplied file"
                labels.append(f"real ({how}; {desc})")
        parts.append(f"{dataset_label(dataset)}: {'; '.join(labels)}")
    return "; ".join(parts) if parts else "no data"


def data_source_short(scalars) -> str:
    """"data: procedural dSprites, real Shapes3D" (one word per dataset; the tables and claims give the details)."""
    if "data_source" not in scalars:
        return "data: source not recorded"
    parts = []
    for dataset in _datasets_of(scalars):
        sources = scalars.loc[(scalars["dataset"] == dataset) & scalars["data_source"].notna(), "data_source"]
        kinds = sorted({"procedural" if s == "procedural" else "real" for s in sources}) or ["unrecorded"]
        parts.append(f"{'/'.join(kinds)} {dataset_label(dataset)}")
    return "data: " + ", ".join(parts) if parts else "data: none"
