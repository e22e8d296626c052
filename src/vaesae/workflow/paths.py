"""Where a run's files go (:class:`Paths`, the readings' ``variant``), the target lists (:func:`all_outputs` ...), what
the user is told of a target that no rule makes (:func:`unknown_targets_message`), and what a run reads from its
checkout (:data:`SRC_DIR`, :data:`WORKFLOW_SOURCES`, a private copy of them: :func:`copy_workflow`)."""

from __future__ import annotations

import difflib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from vaesae import methods as method_table
from vaesae.report import catalog as report_catalog

SRC_DIR = Path(__file__).resolve().parents[2]
#: What a run of the workflow reads from its checkout; everything else it touches (results/, resources/, .snakemake/)
#: is its own. A private copy of these (:func:`copy_workflow`) runs as a fresh clone would.
WORKFLOW_SOURCES = ("Snakefile", "config.yaml", "workflow", "src", "envs")

#: The readings of the paper's text that a ``variant: auto`` names (method-notes "Readings"): (section, key) -> the
#: literal reading, the default.
READING_KEYS = {("model", "sae_bias"): "none", ("revival", "reinit_from"): "donor"}


def reading_variant(cfg: dict) -> str:
    """``variant: auto``: ``reading-`` and the values of the reading keys that are not the literal ones, in
    :data:`READING_KEYS` order (``reading-centred-distribution``), or ``reading-literal``."""
    parts = [str(cfg[section][key]) for (section, key), literal in READING_KEYS.items() if cfg[section][key] != literal]
    return "reading-" + ("-".join(parts) if parts else "literal")


def _under(folder: str, pattern: str) -> property:
    """A file pattern of :class:`Paths`: ``pattern`` in the folder its attribute ``folder`` names."""
    return property(lambda self: f"{getattr(self, folder)}/{pattern}")


@dataclass(frozen=True)
class Paths:
    """File patterns of one configuration (Snakemake wildcards in braces).

    ``results_dir`` is where the configuration's results land: the config's ``results_dir``, or its sub-folder
    ``variant`` when one is set. Stage 1 (the VAE) always lands in the config's own ``results_dir`` (``vae_dir``),
    so every variant of a run (a reading of the SAE: workflow/presets/readings/) trains from the same VAE."""

    results_dir: str
    resources_dir: str
    vae_dir: str

    vae_run = _under("vae_dir", "runs/{dataset}/seed{seed}/vae")  # stage 1 of a (dataset, seed): shared by all variants
    data_file = _under("resources_dir", "datasets/{dataset}.h5")
    run = _under("results_dir", "runs/{dataset}/seed{seed}")
    logs = _under("results_dir", "logs")
    bench = _under("results_dir", "benchmarks")
    eval_file = _under("results_dir", "eval/{dataset}/seed{seed}/{phase}.h5")
    global_file = _under("results_dir", "eval/{dataset}/seed{seed}/{phase}.global.csv")
    sweep_file = _under("results_dir", "sweeps/thresholds.csv")
    epoch_sweep_file = _under("results_dir", "sweeps/epochs.csv")
    summary_evaluations = _under("results_dir", "summary/evaluations.csv")
    summary_history = _under("results_dir", "summary/history.csv")

    @classmethod
    def of(cls, cfg: dict) -> "Paths":
        base, variant = cfg["results_dir"], cfg.get("variant")
        if variant == "auto":
            variant = reading_variant(cfg)
        return cls(f"{base}/{variant}" if variant else base, cfg["resources_dir"], base)

    def run_dir(self, dataset: str, seed, subdir: str) -> str:
        return f"{self.results_dir}/runs/{dataset}/seed{seed}/{subdir}"

    def benchmark(self, stage: str, dataset: str, seed, variant: str) -> str:
        return f"{self.bench}/{stage}_{dataset}_seed{seed}_{variant}.tsv"

    def vae_benchmark(self, dataset: str, seed) -> str:
        """The pretraining's benchmark file, next to the VAE it trained (shared by every variant)."""
        return f"{self.vae_dir}/benchmarks/pretrain_{dataset}_seed{seed}_shared.tsv"


def extended_methods(cfg: dict) -> list[str]:
    return [m for m in cfg["methods"] if method_table.get(m).extended]


def phases(cfg: dict) -> list[str]:
    return method_table.phases(cfg["methods"])


def wildcard_constraints(cfg: dict) -> dict[str, str]:
    """Regexes of the wildcards, built from the config and the methods table."""
    names = list(method_table.METHODS)
    return {"dataset": "|".join(cfg["datasets"]), "seed": r"\d+", "method": "|".join(names),
            "phase": "|".join(method_table.phases(names))}  # fmt: skip


def _grid(cfg: dict, pattern: str, per_phase: bool = False) -> list[str]:
    """Every (dataset, seed), or (dataset, seed, phase), in that nesting order (the order of the sweep's rows)."""
    phs = phases(cfg) if per_phase else [None]
    return [pattern.format(dataset=d, seed=s, phase=ph) for d in cfg["datasets"] for s in cfg["seeds"] for ph in phs]


def eval_files(cfg: dict) -> list[str]:
    return _grid(cfg, Paths.of(cfg).eval_file, per_phase=True)


def global_files(cfg: dict) -> list[str]:
    return _grid(cfg, Paths.of(cfg).global_file, per_phase=True)


def history_files(cfg: dict) -> list[str]:
    """Every training run's ``history.csv``; a phase's run folder is named after it (``init``, ``topk_extended``)."""
    run = Paths.of(cfg).run
    return [f for ph in phases(cfg) for f in _grid(cfg, f"{run}/{ph}/history.csv")]


def pretrain_history_files(cfg: dict) -> list[str]:
    """The VAE pretraining's history.csv per (dataset, seed): the convergence gate G1 reads its MSE."""
    return _grid(cfg, Paths.of(cfg).vae_run + "/history.csv")


def raw_history_files(cfg: dict) -> list[str]:
    """The ``history.h5`` next to each file of :func:`history_files`."""
    return [f[: -len(".csv")] + ".h5" for f in history_files(cfg)]


def benchmark_files(cfg: dict) -> list[str]:
    p = Paths.of(cfg)
    grid = [(d, s) for d in cfg["datasets"] for s in cfg["seeds"]]
    runs = [("init", "shared")] + [("sparsify", m) for m in cfg["methods"]]
    runs += [("extend", m) for m in extended_methods(cfg)]
    return [p.vae_benchmark(d, s) for d, s in grid] + [p.benchmark(st, d, s, v) for st, v in runs for d, s in grid]


def table_files(cfg: dict) -> list[str]:
    """The tables of the catalog (``vaesae.report.catalog.TABLES``), CSV and Markdown."""
    return [f"{Paths.of(cfg).results_dir}/tables/{t}.{ext}" for t in report_catalog.TABLES for ext in ("csv", "md")]


def figure_files(cfg: dict, ext: str = "png") -> list[str]:
    """The figures of the catalog (``vaesae.report.catalog.FIGURES``)."""
    return [f"{Paths.of(cfg).results_dir}/figures/{name}.{ext}" for name in report_catalog.FIGURES]


def preview_files(cfg: dict) -> list[str]:
    return [f"{Paths.of(cfg).results_dir}/figures/dataset_{d}.{ext}" for d in cfg["datasets"] for ext in ("png", "pdf")]


def all_outputs(cfg: dict) -> list[str]:
    p = Paths.of(cfg)
    return (table_files(cfg) + figure_files(cfg, "png") + figure_files(cfg, "pdf")
            + [f"{p.results_dir}/{name}" for name in ("claims.md", "claims.csv", "gates.csv")]
            + [p.sweep_file, p.epoch_sweep_file, p.summary_evaluations, p.summary_history]
            + preview_files(cfg) + eval_files(cfg))  # fmt: skip


def unknown_targets_message(unknown: list[str], rules: list[str], patterns: list[str], cfg: dict) -> str:
    """Why ``snakemake <target>`` cannot run, with the nearest match of each unknown target and what exists."""
    patterns = sorted({re.sub(r"\{(\w+),[^}]*\}", r"{\1}", p) for p in patterns})  # constraints hidden
    lines = []
    for target in unknown:
        lines.append(f"unknown target {target!r}: it is neither a rule nor a file any rule makes")
        close = difflib.get_close_matches(target, rules + patterns, n=3, cutoff=0.6)
        if close:
            lines.append(f"  did you mean: {', '.join(close)}?")
    lines.append(f"rules you can ask for: {', '.join(rules)}")
    lines.append(f"or files (results_dir is {cfg['results_dir']!r}, resources_dir is {cfg['resources_dir']!r}), "
                 "for example one of:")  # fmt: skip
    lines += [f"  {p}" for p in patterns]
    lines.append(f"datasets are {', '.join(cfg['datasets'])}; seeds are {', '.join(map(str, cfg['seeds']))}")
    return "\n".join(lines)


def copy_workflow(dest: Path, root: Path = SRC_DIR.parent) -> Path:
    """A private copy of the workflow of the checkout ``root`` (:data:`WORKFLOW_SOURCES`) at ``dest``; returns ``dest``.

    Snakemake run in the copy imports the copy's ``src/`` (the rules put it first on PYTHONPATH) and keeps its
    results, resources and metadata there: nothing in ``root`` is read beyond the sources or written. Links would not
    do: Snakemake resolves a linked Snakefile to the checkout, and the rules' source inputs become paths into it."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("*.egg-info", ".snakemake", "results", "resources", ".venv")
    for name in WORKFLOW_SOURCES:
        src = Path(root) / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest
