"""The contract between the Snakemake workflow and the package, as plain tested functions.

``workflow/rules/common.smk`` is thin glue over this module. It holds:

- :func:`prepare_config`: command-line strings coerced to the schema's types, schema defaults, validation whose
  errors name the key path (``optim.lr``), and the cross-key checks the schema cannot express;
- :class:`Paths` and the target lists (:func:`all_outputs` ...);
- :func:`rule_params`: the config slice each rule receives (only the keys it reads, so editing one key reruns only
  the rules that read it);
- :func:`rule_code`: the source files each rule lists as inputs, derived from the import graph of its entry module
  (:func:`import_closure`), minus the written exceptions in :data:`NARROWER`;
- :func:`rule_resources`: memory and run time of each job, sized from the dataset and the epoch counts.

Methods are data: everything method-specific comes from :mod:`vaesae.methods`. This module imports neither torch nor
Snakemake at import time, so the Snakefile parses fast.
"""

from __future__ import annotations

import ast
import copy
import functools
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from vaesae import DATASETS
from vaesae import methods as method_table
from vaesae.report import catalog as report_catalog

PACKAGE_DIR = Path(__file__).resolve().parent
SRC_DIR = PACKAGE_DIR.parent
#: What a run of the workflow reads from its checkout; everything else it touches (results/, resources/, .snakemake/)
#: is its own. A private copy of these (:func:`copy_workflow`) runs as a fresh clone would.
WORKFLOW_SOURCES = ("Snakefile", "config.yaml", "workflow", "src", "envs")


def copy_workflow(dest: Path, root: Path = SRC_DIR.parent) -> Path:
    """A private copy of the workflow of the checkout ``root`` (:data:`WORKFLOW_SOURCES`) at ``dest``; returns ``dest``.

    Snakemake run in the copy imports the copy's ``src/`` (the rules put it first on PYTHONPATH) and keeps its
    results, resources and metadata there: nothing in ``root`` is read beyond the sources or written. Links would not
    do: Snakemake resolves a linked Snakefile to the checkout, and the rules' source inputs become paths into it."""
    import shutil

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


class ConfigError(ValueError):
    """A config value the workflow cannot run with; the message names the key."""


# ============================================================================================ config
def _load_yaml(path) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def _resolve(schema: dict, root: dict) -> dict:
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        target = root
        for part in ref.lstrip("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _types(schema: dict) -> list[str]:
    kind = schema.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


_TRUE, _FALSE, _NULL = {"true", "yes", "on"}, {"false", "no", "off"}, {"null", "none", "~", ""}


def _coerce_scalar(value: str, kinds: list[str]):
    text = value.strip()
    low = text.lower()
    if "null" in kinds and low in _NULL:
        return None
    if "boolean" in kinds and low in _TRUE | _FALSE:
        return low in _TRUE
    if "integer" in kinds and re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if "number" in kinds:
        try:
            return float(text)
        except ValueError:
            pass
    return value


def coerce(value, schema: dict, root: dict | None = None):
    """Convert strings to the types the schema asks for, recursively.

    Snakemake hands nested ``--config`` values over as strings (YAML BaseLoader: ``seeds=[42]`` gives ``['42']``,
    ``'optim={lr: 0.0001}'`` gives ``{'lr': '0.0001'}``). A string that does not parse as the wanted type is left
    alone, so validation then names it.
    """
    root = schema if root is None else root
    schema = _resolve(schema, root)
    kinds = _types(schema)
    if isinstance(value, str) and kinds and "string" not in kinds:
        return _coerce_scalar(value, kinds)
    if isinstance(value, list) and "items" in schema:
        return [coerce(v, schema["items"], root) for v in value]
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        return {k: coerce(v, props[k], root) if k in props else v for k, v in value.items()}
    return value


def _validator(schema: dict):
    from jsonschema import Draft202012Validator, validators

    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for name, prop in properties.items():
                if "default" in prop:
                    instance.setdefault(name, copy.deepcopy(prop["default"]))
        yield from check_properties(validator, properties, instance, subschema)

    return validators.extend(Draft202012Validator, {"properties": set_defaults})(schema)


def _key_path(error) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)' was unexpected", error.message)
        if extra:
            path = ".".join(filter(None, [path, extra[0]]))
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        if missing:
            path = ".".join(filter(None, [path, missing[0]]))
    return path or "(top level)"


def validate_config(config: dict, schema: dict) -> dict:
    """Coerce, fill the schema's defaults and validate ``config`` in place; raise :class:`ConfigError` naming the
    key path of the first error (``config key optim.lr: 'fast' is not of type 'number'``)."""
    coerced = coerce(config, schema)
    config.clear()
    config.update(coerced)
    validator = _validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [f"config key {_key_path(e)}: {e.message}" for e in errors[:10]]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    return config


def check_config(cfg: dict) -> None:
    """The cross-key rules the schema cannot express; each error names its keys."""
    unknown = [m for m in cfg["methods"] if m not in method_table.METHODS]
    if unknown:
        raise ConfigError(
            f"config key methods: unknown method(s) {', '.join(map(repr, unknown))}; "
            f"the methods table (src/vaesae/methods.py) has {', '.join(method_table.METHODS)}"
        )
    for method in cfg["methods"]:
        revival_params(cfg, method)  # an unknown method under revival.per_method fails here, naming the key
    sp = cfg["sparsify"]
    if sp["k_end"] > sp["k_start"]:
        raise ConfigError(f"config key sparsify.k_end ({sp['k_end']}) must not exceed sparsify.k_start ({sp['k_start']})")
    if sp["k_start"] > cfg["model"]["conv_sae_neurons"]:
        raise ConfigError(f"config key sparsify.k_start ({sp['k_start']}) exceeds model.conv_sae_neurons "
                          f"({cfg['model']['conv_sae_neurons']})")  # fmt: skip
    if sp["warmup_fraction"] + sp["hold_fraction"] >= 1:
        raise ConfigError("config keys sparsify.warmup_fraction + sparsify.hold_fraction must be < 1")
    if len(set(cfg["seeds"])) != len(cfg["seeds"]):
        raise ConfigError(f"config key seeds has duplicates: {cfg['seeds']}")
    if cfg["data"]["source"] == "path":
        for ds in cfg["datasets"]:
            path = (cfg["data"].get("path") or {}).get(ds)
            if not path:
                raise ConfigError(f"config key data.path.{ds} must be set when data.source is 'path'")
            if not Path(path).exists():
                raise ConfigError(f"config key data.path.{ds}: file {path} does not exist")


def prepare_config(config: dict, schema_path) -> dict:
    """What the Snakefile runs on ``config`` before any rule: :func:`validate_config` then :func:`check_config`."""
    validate_config(config, _load_yaml(schema_path))
    check_config(config)
    return config


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(*files, overrides: dict | None = None, root: Path | None = None) -> dict:
    """config.yaml, then each ``--configfile``, then ``--config`` overrides, prepared as the workflow prepares it."""
    root = Path(root) if root is not None else SRC_DIR.parent
    cfg = _load_yaml(root / "config.yaml")
    for f in files:
        cfg = deep_merge(cfg, _load_yaml(f))
    cfg = deep_merge(cfg, overrides or {})
    return prepare_config(cfg, root / "workflow/schemas/config.schema.yaml")


# ============================================================================================ paths and targets
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


# ============================================================================================ params per rule
def _split(cfg: dict) -> dict:
    d = cfg["data"]
    return {"val_fraction": d["val_fraction"], "shapes3d_n_val": d["shapes3d_n_val"]}


#: The ``eval`` keys behind the raw measurements (training's monitor and the evaluate rule). The thresholds and the
#: reading are reporting choices (:data:`REPORTING_KEYS`): only the summarize rule and the renderers get them.
MEASURE_KEYS = ("n_samples", "n_bins", "batch_size")
REPORTING_KEYS = ("dead_threshold", "specialization_threshold", "specialization_activations", "specialization_mi")


def _monitor(cfg: dict) -> dict:
    return {k: cfg["eval"][k] for k in MEASURE_KEYS}


def _reporting(cfg: dict) -> dict:
    return {k: cfg["eval"][k] for k in REPORTING_KEYS}


def _free_bits(cfg: dict) -> dict:
    p = cfg["pretrain"]
    return {"free_bits": p["free_bits"], "free_bits_mode": p["free_bits_mode"]}


def _sparsify_keys(cfg: dict, stage: str, method: str = "none") -> dict:
    """The ``sparsify`` keys a training stage reads for ``method``: the stage/method rule's keys class
    (``vaesae.methods.stage_keys``; stage 2: ``k_start``, stages 3 and extend: the method's keys)."""
    return {k: cfg["sparsify"][k] for k in method_table.stage_keys(stage, method).key_names()}


def revival_params(cfg: dict, method: str) -> dict:
    """The revival keys of a method's runs: ``revival`` with ``revival.per_method[method]`` over it."""
    r = dict(cfg["revival"])
    per_method = r.pop("per_method", None) or {}
    unknown = [m for m in per_method if m not in method_table.METHODS]
    if unknown:
        raise ConfigError(f"config key revival.per_method: unknown method(s) {', '.join(map(repr, unknown))}")
    return {**r, **(per_method.get(method) or {})}


def dataset_params(cfg: dict, dataset: str) -> dict:
    d = cfg["data"]
    params = {"source": d["source"], "subset": d["subset"], "subset_seed": d["subset_seed"]}
    if d["source"] == "path":
        params["path"] = d["path"][dataset]
    if d["source"] in ("path", "download"):
        params["download"] = (d.get("download") or {}).get(dataset) or {}
    if d["source"] == "download":
        params["raw_dir"] = d.get("raw_dir") or f"{cfg['resources_dir']}/raw"
    return params


#: ``model`` keys that only some rules read: {key: the rules that get it}. Every other ``model`` key (the
#: architecture) reaches every rule that builds the model, so editing one of these reruns only its rules. The SAE
#: tying and the SAE bias reading matter wherever SAE weights are trained or loaded (not stage 1: every reading of a
#: run starts from the same VAE); the SAE gradient only where the VAE trains with the SAEs.
MODEL_KEY_RULES = {
    "tied_sae": ("init_sae", "sparsify", "extend", "evaluate"),
    "sae_bias": ("init_sae", "sparsify", "extend", "evaluate"),
    "sae_gradient": ("sparsify", "extend"),
}


def model_params(cfg: dict, rule: str, method: str | None = None) -> dict:
    """The ``model`` keys of a rule's params: the architecture, plus the keys of :data:`MODEL_KEY_RULES` that name
    the rule. ``sae_gradient`` stays out of the runs of a method that detaches whatever it says (``detach_sae``)."""
    out = {}
    for key, value in cfg["model"].items():
        if key in MODEL_KEY_RULES and rule not in MODEL_KEY_RULES[key]:
            continue
        if key == "sae_gradient" and method is not None and method_table.get(method).detach_sae:
            continue
        out[key] = value
    return out


def _training(cfg: dict, rule: str, method: str | None = None, **sections) -> dict:
    return {"device": cfg["device"], "model": model_params(cfg, rule, method), "optim": cfg["optim"],
            "data": _split(cfg), **sections}  # fmt: skip


def rule_params(cfg: dict, rule: str, **wildcards) -> dict:
    """The config slice a rule passes to its entry point (``--params``): only the keys the rule reads."""
    method = wildcards.get("method")
    if rule == "dataset":
        return dataset_params(cfg, wildcards["dataset"])
    if rule == "pretrain_vae":
        return _training(cfg, rule, pretrain=cfg["pretrain"], eval=_monitor(cfg))
    if rule == "init_sae":
        return _training(cfg, rule, pretrain=_free_bits(cfg), init=cfg["init"], sparsify=_sparsify_keys(cfg, "init"),
                         eval=_monitor(cfg), loss=cfg["loss"])  # fmt: skip
    if rule == "sparsify":
        return _training(cfg, rule, method, pretrain=_free_bits(cfg), sparsify=_sparsify_keys(cfg, rule, method),
                         revival=revival_params(cfg, method), eval=_monitor(cfg), loss=cfg["loss"])  # fmt: skip
    if rule == "extend":
        return _training(cfg, rule, method, pretrain=_free_bits(cfg), sparsify=_sparsify_keys(cfg, rule, method),
                         extend=cfg["extend"], revival=revival_params(cfg, method), eval=_monitor(cfg),
                         loss=cfg["loss"])  # fmt: skip
    if rule == "evaluate":
        return {"device": cfg["device"], "model": model_params(cfg, rule), "optim": {"tf32": cfg["optim"]["tf32"]},
                "data": _split(cfg), "eval": _monitor(cfg)}  # fmt: skip
    if rule == "global_metrics":
        g = cfg["global_metrics"]
        return {"dci_model": g["dci_model"], "train_fraction": g["train_fraction"]}
    if rule == "summarize":
        return _reporting(cfg)
    if rule == "sweep":
        return {**cfg["sweep"], "specialization_activations": cfg["eval"]["specialization_activations"],
                "specialization_mi": cfg["eval"]["specialization_mi"]}
    if rule == "tables":
        c = cfg["claims"]
        return {k: c[k] for k in ("p_value", "mse_relative_tolerance", "mig_relative_tolerance", "mig_reference")}
    if rule == "figures":
        e = cfg["eval"]
        return {"datasets": cfg["datasets"], "dead_threshold": e["dead_threshold"],
                "specialization_threshold": e["specialization_threshold"]}  # fmt: skip
    if rule == "claims":
        return cfg["claims"]
    if rule == "dataset_preview":
        return {}
    raise ValueError(f"no params for rule {rule!r}")


# ============================================================================================ source inputs
#: The entry module of each rule (``python -m <entry>``).
ENTRY = {
    "dataset": "vaesae.data.generate",
    "dataset_preview": "vaesae.cli.preview",
    "pretrain_vae": "vaesae.cli.train",
    "init_sae": "vaesae.cli.train",
    "sparsify": "vaesae.cli.train",
    "extend": "vaesae.cli.train",
    "evaluate": "vaesae.cli.evaluate",
    "global_metrics": "vaesae.cli.global_metrics",
    "summarize": "vaesae.cli.summarize",
    "sweep": "vaesae.cli.sweep",
    "tables": "vaesae.cli.tables",
    "figures": "vaesae.cli.figures",
    "claims": "vaesae.cli.claims",
}
TRAINING_RULES = ("pretrain_vae", "init_sae", "sparsify", "extend")

_MONITOR = ("vaesae.evaluation", "vaesae.metrics")
#: Rules deliberately narrower than their imports: {rule: {module or package prefix: reason}}.
NARROWER = {
    rule: {
        prefix: "training imports the metrics only for the per-epoch monitor columns of history.csv; the final numbers "
        "of every table come from the evaluate rule, which lists them, so a metrics edit reruns evaluation, not "
        "24 GPU trainings"
        for prefix in _MONITOR
    }
    for rule in TRAINING_RULES
}


def _module_file(name: str, src: Path) -> Path | None:
    base = src.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, src: Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, src: Path, top: str) -> frozenset[str]:
    """Names of the ``top`` package's modules ``path`` imports anywhere (function-level imports included)."""
    st = path.stat()
    return _parsed_imports(str(path), st.st_mtime_ns, st.st_size, str(src), top)


@functools.lru_cache(maxsize=None)
def _parsed_imports(file: str, mtime_ns: int, size: int, src: str, top: str) -> frozenset[str]:
    """:func:`_imports` of one version of a file (its mtime and size in the key): the ~14 closures of a workflow
    share most of their modules: parsing each module once, not once per closure, takes a tiny dry run from 3.3 to
    2.0 CPU s."""
    path, src = Path(file), Path(src)
    tree = ast.parse(path.read_text(), filename=str(path))
    own = _module_name(path, src)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names.add(mod)
            names.update(f"{mod}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return frozenset(n for n in names if n == top or n.startswith(top + "."))


@functools.lru_cache(maxsize=None)
def _closure(entries: tuple[str, ...], src: str) -> tuple[str, ...]:
    src_path = Path(src)
    top = entries[0].split(".")[0]
    seen: dict[str, Path] = {}
    todo = list(entries)
    while todo:
        name = todo.pop()
        # importing a.b.c runs a/__init__.py and a/b/__init__.py first
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            sub = ".".join(parts[:i])
            if sub in seen:
                continue
            path = _module_file(sub, src_path)
            if path is None:
                continue  # an attribute imported with `from x import y`, not a module
            seen[sub] = path
            todo.extend(_imports(path, src_path, top))
    return tuple(sorted(seen))


def import_closure(*entries: str, src: Path = SRC_DIR) -> list[str]:
    """Every module of the package that importing (and running) ``entries`` can import, by an ``ast`` walk."""
    return list(_closure(tuple(entries), str(src)))


def _excluded(module: str, rule: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in NARROWER.get(rule, {}))


def rule_modules(rule: str, method: str | None = None, src: Path = SRC_DIR) -> list[str]:
    """Modules a rule's job runs: its entry's import closure (plus the method's sparsifier, which the methods table
    names as a string and the loop imports lazily), minus the rule's written exceptions."""
    entries = [ENTRY[rule]]
    if rule in ("sparsify", "extend", "evaluate") and method is not None:
        entries.append(method_table.get(method).module)
    return [m for m in import_closure(*entries, src=src) if not _excluded(m, rule)]


def rule_code(rule: str, method: str | None = None, src: Path = SRC_DIR, relative_to: Path | None = None) -> list[str]:
    """The source files of :func:`rule_modules`, as paths relative to ``relative_to`` (default: the working dir)."""
    base = Path(relative_to) if relative_to is not None else Path.cwd()
    files = [_module_file(m, src) for m in rule_modules(rule, method, src)]
    return sorted(os.path.relpath(f, base) for f in files)


# ============================================================================================ resources
#: Seconds per training image per epoch on one GPU for the paper model (8,192 x 4,096 conv SAE): the paper's
#: 24 s per 590k-image stage-3 epoch on an RTX 5090 (Table 7) is 4.1e-5; this allows 2.5x that.
GPU_SECONDS_PER_IMAGE_EPOCH = 1.0e-4
GRID_SIZE = {"dsprites": 737_280, "shapes3d": 480_000}
CHANNELS = {"dsprites": 1, "shapes3d": 3}


def n_images(cfg: dict, dataset: str) -> int:
    subset = cfg["data"]["subset"]
    return min(subset, GRID_SIZE[dataset]) if subset else GRID_SIZE[dataset]


def dataset_mb(cfg: dict, dataset: str) -> float:
    """Size of the images as uint8 in memory (MB)."""
    return n_images(cfg, dataset) * 64 * 64 * CHANNELS[dataset] / 1e6


def model_size(cfg: dict) -> float:
    """Relative cost of the model against the paper's (conv SAE neurons x h_flat, which dominates)."""
    m = cfg["model"]
    h_dim = m["h_channels"] * (64 // 2 ** len(m["encoder_channels"])) ** 2
    return m["conv_sae_neurons"] * h_dim / (8192 * 4096)


def _epochs(cfg: dict, rule: str) -> int:
    return {"pretrain_vae": cfg["pretrain"]["epochs"], "init_sae": cfg["init"]["epochs"],
            "sparsify": cfg["sparsify"]["epochs"], "extend": cfg["extend"]["epochs"], "evaluate": 1}[rule]  # fmt: skip


def rule_resources(cfg: dict, rule: str, dataset: str | None = None, attempt: int = 1) -> dict[str, int]:
    """``mem_mb`` and ``runtime`` (minutes) of one job; a retried job (``attempt`` 2, 3, ...) gets that many times
    more. Training holds the images twice on the host while they go to the device, the model with its AdamW state
    and checkpoints (about 1.1 GB at paper scale) and torch itself (about 1.5 GB)."""
    if rule in TRAINING_RULES or rule == "evaluate":
        mem = 2000 + 2 * dataset_mb(cfg, dataset) + 3000 * model_size(cfg)
        images = n_images(cfg, dataset)
        seconds = _epochs(cfg, rule) * images * GPU_SECONDS_PER_IMAGE_EPOCH * max(model_size(cfg), 0.05)
        minutes = 15 + 2 * seconds / 60
    elif rule == "dataset":
        mem, minutes = 1500 + min(dataset_mb(cfg, dataset), 6000), 60
    elif rule == "global_metrics":
        mem, minutes = 2000, 30 + 2 * cfg["eval"]["n_samples"] / 10_000 * 10  # BENCHMARKS: ~4 min per 10k (gbt)
    else:  # sweep, rendering, previews
        mem, minutes = 2000, 15
    return {"mem_mb": math.ceil(mem) * attempt, "runtime": math.ceil(minutes) * attempt}


# ============================================================================================ glue helpers
def as_json(obj) -> str:
    """A rule's ``--params`` value (sorted keys: the same config gives the same string, so no spurious reruns)."""
    import json

    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def unknown_targets_message(unknown: list[str], rules: list[str], patterns: list[str], cfg: dict) -> str:
    """Why ``snakemake <target>`` cannot run, with the nearest match of each unknown target and what exists."""
    import difflib

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
