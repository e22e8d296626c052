"""Where a run's files go (:class:`Paths`, the readings' ``variant``) and the target lists (:func:`all_outputs` ...)."""

from __future__ import annotations

from dataclasses import dataclass

from vaesae import methods as method_table
from vaesae.report import catalog as report_catalog


#: The readings of the paper's text that a ``variant: auto`` names (method-notes "Readings"): (section, key) -> the
#: literal reading, the default.
READING_KEYS = {("model", "sae_bias"): "none", ("revival", "reinit_from"): "donor"}


def reading_variant(cfg: dict) -> str:
    """``variant: auto``: ``reading-`` and the values of the reading keys that are not the literal ones, in
    :data:`READING_KEYS` order (``reading-centred-distribution``), or ``reading-literal``."""
    parts = [str(cfg[section][key]) for (section, key), literal in READING_KEYS.items() if cfg[section][key] != literal]
    return "reading-" + ("-".join(parts) if parts else "literal")


@dataclass(frozen=True)
class Paths:
    """File patterns of one configuration (Snakemake wildcards in braces).

    ``results_dir`` is where the configuration's results land: the config's ``results_dir``, or its sub-folder
    ``variant`` when one is set. Stage 1 (the VAE) always lands in the config's own ``results_dir`` (``vae_dir``),
    so every variant of a run (a reading of the SAE: workflow/presets/readings/) trains from the same VAE."""

    results_dir: str
    resources_dir: str
    vae_dir: str

    @classmethod
    def of(cls, cfg: dict) -> "Paths":
        base, variant = cfg["results_dir"], cfg.get("variant")
        if variant == "auto":
            variant = reading_variant(cfg)
        return cls(f"{base}/{variant}" if variant else base, cfg["resources_dir"], base)

    @property
    def vae_run(self) -> str:
        """The stage-1 folder of a (dataset, seed), shared by every variant."""
        return f"{self.vae_dir}/runs/{{dataset}}/seed{{seed}}/vae"

    @property
    def data_file(self) -> str:
        return f"{self.resources_dir}/datasets/{{dataset}}.h5"

    @property
    def run(self) -> str:
        return f"{self.results_dir}/runs/{{dataset}}/seed{{seed}}"

    @property
    def logs(self) -> str:
        return f"{self.results_dir}/logs"

    @property
    def bench(self) -> str:
        return f"{self.results_dir}/benchmarks"

    @property
    def eval_file(self) -> str:
        return f"{self.results_dir}/eval/{{dataset}}/seed{{seed}}/{{phase}}.h5"

    @property
    def global_file(self) -> str:
        return f"{self.results_dir}/eval/{{dataset}}/seed{{seed}}/{{phase}}.global.csv"

    @property
    def sweep_file(self) -> str:
        return f"{self.results_dir}/sweeps/thresholds.csv"

    @property
    def epoch_sweep_file(self) -> str:
        return f"{self.results_dir}/sweeps/epochs.csv"

    @property
    def summary_evaluations(self) -> str:
        return f"{self.results_dir}/summary/evaluations.csv"

    @property
    def summary_history(self) -> str:
        return f"{self.results_dir}/summary/history.csv"

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
    return {
        "dataset": "|".join(cfg["datasets"]),
        "seed": r"\d+",
        "method": "|".join(names),
        "phase": "|".join(method_table.phases(names)),
    }


def phase_subdir(phase: str) -> str:
    """Run folder of an evaluation phase: the phase name itself (``init``, ``topk``, ``topk_extended``, ...)."""
    method_table.phase_run(phase)  # raises for an unknown phase
    return phase


def _grid(cfg: dict, pattern: str, **extra) -> list[str]:
    return [pattern.format(dataset=d, seed=s, **extra) for d in cfg["datasets"] for s in cfg["seeds"]]


def _per_phase(cfg: dict, pattern: str) -> list[str]:
    """Every (dataset, seed, phase), in that nesting order (the order of the sweep's rows)."""
    return [pattern.format(dataset=d, seed=s, phase=ph) for d in cfg["datasets"] for s in cfg["seeds"]
            for ph in phases(cfg)]  # fmt: skip


def eval_files(cfg: dict) -> list[str]:
    return _per_phase(cfg, Paths.of(cfg).eval_file)


def global_files(cfg: dict) -> list[str]:
    return _per_phase(cfg, Paths.of(cfg).global_file)


def history_files(cfg: dict) -> list[str]:
    p = Paths.of(cfg)
    return [f for ph in phases(cfg) for f in _grid(cfg, p.run + f"/{phase_subdir(ph)}/history.csv")]


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
    return [p.vae_benchmark(d, s) for d, s in grid] + [p.benchmark(stage, d, s, v) for stage, v in runs for d, s in grid]


def table_files(cfg: dict) -> list[str]:
    """The tables of the catalog (``vaesae.report.catalog.TABLES``), CSV and Markdown."""
    return [f"{Paths.of(cfg).results_dir}/tables/{name}.{ext}" for name in report_catalog.TABLES for ext in ("csv", "md")]


def figure_files(cfg: dict, ext: str = "png") -> list[str]:
    """The figures of the catalog (``vaesae.report.catalog.FIGURES``)."""
    return [f"{Paths.of(cfg).results_dir}/figures/{name}.{ext}" for name in report_catalog.FIGURES]


def preview_files(cfg: dict) -> list[str]:
    return [f"{Paths.of(cfg).results_dir}/figures/dataset_{d}.{ext}" for d in cfg["datasets"] for ext in ("png", "pdf")]


def all_outputs(cfg: dict) -> list[str]:
    res = Paths.of(cfg).results_dir
    return (table_files(cfg) + figure_files(cfg, "png") + figure_files(cfg, "pdf")
            + [f"{res}/claims.md", f"{res}/claims.csv", f"{res}/gates.csv", Paths.of(cfg).sweep_file, Paths.of(cfg).epoch_sweep_file,
               Paths.of(cfg).summary_evaluations, Paths.of(cfg).summary_history]
            + preview_files(cfg) + eval_files(cfg))  # fmt: skip
