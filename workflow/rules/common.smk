"""Helpers shared by every stage file: config checks, paths, params per stage and source-module dependencies."""

import json
import os
import re
from pathlib import Path


# ---------------------------------------------------------------- config checks the schema cannot express
def check_config(cfg):
    sp = cfg["sparsify"]
    if sp["k_end"] > sp["k_start"]:
        raise ValueError(
            f"config key sparsify.k_end ({sp['k_end']}) must not exceed sparsify.k_start ({sp['k_start']})"
        )
    if sp["k_start"] > cfg["model"]["conv_sae_neurons"]:
        raise ValueError(
            f"config key sparsify.k_start ({sp['k_start']}) exceeds model.conv_sae_neurons "
            f"({cfg['model']['conv_sae_neurons']})"
        )
    if sp["warmup_fraction"] + sp["hold_fraction"] >= 1:
        raise ValueError(
            "config keys sparsify.warmup_fraction + sparsify.hold_fraction must be < 1"
        )
    if len(set(cfg["seeds"])) != len(cfg["seeds"]):
        raise ValueError(f"config key seeds has duplicates: {cfg['seeds']}")
    if cfg["data"]["source"] == "path":
        for ds in cfg["datasets"]:
            path = (cfg["data"].get("path") or {}).get(ds)
            if not path:
                raise ValueError(
                    f"config key data.path.{ds} must be set when data.source is 'path'"
                )
            if not Path(path).exists():
                raise ValueError(
                    f"config key data.path.{ds}: file {path} does not exist"
                )


check_config(config)

RES = config["results_dir"]
DATASETS = config["datasets"]
METHODS = config["methods"]
SEEDS = config["seeds"]
DATA_FILE = f"{config['resources_dir']}/datasets/{{dataset}}.h5"
RUN = f"{RES}/runs/{{dataset}}/seed{{seed}}"
LOGS = f"{RES}/logs"
BENCH = f"{RES}/benchmarks"
ENV = "../../envs/pipeline.yaml"
N_TABLES = 7
N_FIGURES = 11

# Jobs import the package from this checkout's src/ (also inside conda envs and on cluster nodes).
shell.prefix(f'export PYTHONPATH="{Path(workflow.basedir) / "src"}:$PYTHONPATH"; ')


wildcard_constraints:
    dataset="|".join(DATASETS),
    seed=r"\d+",
    method="topk|l1",
    phase="init|topk|l1|topk_extended",


# ---------------------------------------------------------------- source modules each stage depends on
# Snakemake does not track imports, so every job lists the modules it runs as inputs. Editing plotting code reruns
# only rendering; editing metrics reruns evaluation and rendering; editing the model or training code reruns training.
def _modules(*patterns):
    base = Path(workflow.basedir)
    files = sorted({p for pat in patterns for p in base.glob(f"src/vaesae/{pat}")})
    return [os.path.relpath(p) for p in files]


SRC_CORE = _modules("__init__.py", "io.py")
SRC_DATA = SRC_CORE + _modules("data/*.py")
SRC_TRAIN = SRC_CORE + _modules(
    "device.py",
    "models/*.py",
    "train/*.py",
    "cli/train.py",
    "data/__init__.py",
    "data/canonical.py",
    "data/splits.py",
)
SRC_METRICS = SRC_CORE + _modules(
    "metrics/__init__.py",
    "metrics/discretize.py",
    "metrics/mutual_info.py",
    "metrics/mig.py",
    "metrics/specialization.py",
    "metrics/dead.py",
    "metrics/mse.py",
    "metrics/sweep.py",
    "evaluation.py",
    "cli/evaluate.py",
    "cli/sweep.py",
)
SRC_GLOBAL = SRC_CORE + _modules(
    "metrics/__init__.py",
    "metrics/sap.py",
    "metrics/dci.py",
    "metrics/extra.py",
    "cli/global_metrics.py",
    "device.py",
)
SRC_RENDER = SRC_CORE + _modules(
    "report/__init__.py", "report/collect.py", "report/style.py", "cli/render.py"
)
SRC_TABLES = SRC_RENDER + _modules("report/tables.py")
SRC_FIGURES = SRC_RENDER + _modules("report/figures.py")
SRC_CLAIMS = SRC_TABLES + _modules("report/claims.py")
SRC_PREVIEW = SRC_CORE + _modules(
    "data/*.py",
    "report/__init__.py",
    "report/style.py",
    "report/preview.py",
    "cli/preview.py",
)


# ---------------------------------------------------------------- params: only the keys each rule uses
def as_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _split_params():
    d = config["data"]
    return {"val_fraction": d["val_fraction"], "shapes3d_n_val": d["shapes3d_n_val"]}


def _optim_params():
    return config["optim"]


def _monitor_eval(with_sae=True):
    e = config["eval"]
    keys = ["n_samples", "n_bins", "batch_size"]
    if with_sae:
        keys += ["dead_threshold", "specialization_threshold"]
    return {k: e[k] for k in keys}


def _free_bits():
    p = config["pretrain"]
    return {"free_bits": p["free_bits"], "free_bits_mode": p["free_bits_mode"]}


def dataset_params(wildcards):
    d = config["data"]
    params = {
        "source": d["source"],
        "subset": d["subset"],
        "subset_seed": d["subset_seed"],
    }
    if d["source"] == "path":
        params["path"] = d["path"][wildcards.dataset]
    if d["source"] in ("path", "download"):
        params["download"] = (d.get("download") or {}).get(wildcards.dataset) or {}
    if d["source"] == "download":
        params["raw_dir"] = d.get("raw_dir") or f"{config['resources_dir']}/raw"
    return params


def pretrain_params():
    return {
        "device": config["device"],
        "model": config["model"],
        "optim": _optim_params(),
        "pretrain": config["pretrain"],
        "data": _split_params(),
        "eval": _monitor_eval(with_sae=False),
    }


def init_params():
    return {
        "device": config["device"],
        "model": config["model"],
        "optim": _optim_params(),
        "pretrain": _free_bits(),
        "init": config["init"],
        "sparsify": {"k_start": config["sparsify"]["k_start"]},
        "data": _split_params(),
        "eval": _monitor_eval(),
    }


def sparsify_params(wildcards):
    sp = config["sparsify"]
    if wildcards.method == "topk":
        keys = [
            "epochs",
            "k_start",
            "k_end",
            "warmup_fraction",
            "hold_fraction",
            "topk_l1_coeff",
        ]
    else:
        keys = ["epochs", "l1_start", "l1_end"]
    return {
        "device": config["device"],
        "model": config["model"],
        "optim": _optim_params(),
        "pretrain": _free_bits(),
        "sparsify": {k: sp[k] for k in keys},
        "revival": config["revival"],
        "data": _split_params(),
        "eval": _monitor_eval(),
    }


def extend_params():
    sp = config["sparsify"]
    return {
        "device": config["device"],
        "model": config["model"],
        "optim": _optim_params(),
        "pretrain": _free_bits(),
        "extend": config["extend"],
        "sparsify": {"k_end": sp["k_end"], "topk_l1_coeff": sp["topk_l1_coeff"]},
        "revival": config["revival"],
        "data": _split_params(),
        "eval": _monitor_eval(),
    }


def evaluate_params():
    return {
        "device": config["device"],
        "model": config["model"],
        "optim": {"tf32": config["optim"]["tf32"]},
        "data": _split_params(),
        "eval": config["eval"],
    }


# ---------------------------------------------------------------- targets
def phases():
    out = ["init"]
    if "topk" in METHODS:
        out += ["topk", "topk_extended"]
    if "l1" in METHODS:
        out.append("l1")
    return out


def phase_checkpoint(wildcards):
    ph = wildcards.phase
    sub = {
        "init": "init",
        "topk": "topk",
        "l1": "l1",
        "topk_extended": "topk_extended",
    }[ph]
    return f"{RES}/runs/{wildcards.dataset}/seed{wildcards.seed}/{sub}/model.pt"


def eval_files():
    return expand(
        f"{RES}/eval/{{dataset}}/seed{{seed}}/{{phase}}.h5",
        dataset=DATASETS,
        seed=SEEDS,
        phase=phases(),
    )


def global_files():
    return [f.replace(".h5", ".global.csv") for f in eval_files()]


def history_files():
    files = expand(
        f"{RES}/runs/{{dataset}}/seed{{seed}}/init/history.csv",
        dataset=DATASETS,
        seed=SEEDS,
    )
    files += expand(
        f"{RES}/runs/{{dataset}}/seed{{seed}}/{{method}}/history.csv",
        dataset=DATASETS,
        seed=SEEDS,
        method=METHODS,
    )
    if "topk" in METHODS:
        files += expand(
            f"{RES}/runs/{{dataset}}/seed{{seed}}/topk_extended/history.csv",
            dataset=DATASETS,
            seed=SEEDS,
        )
    return files


def benchmark_files():
    files = expand(
        f"{BENCH}/pretrain_{{dataset}}_seed{{seed}}_shared.tsv",
        dataset=DATASETS,
        seed=SEEDS,
    )
    files += expand(
        f"{BENCH}/init_{{dataset}}_seed{{seed}}_shared.tsv",
        dataset=DATASETS,
        seed=SEEDS,
    )
    files += expand(
        f"{BENCH}/sparsify_{{dataset}}_seed{{seed}}_{{method}}.tsv",
        dataset=DATASETS,
        seed=SEEDS,
        method=METHODS,
    )
    if "topk" in METHODS:
        files += expand(
            f"{BENCH}/extend_{{dataset}}_seed{{seed}}_topk.tsv",
            dataset=DATASETS,
            seed=SEEDS,
        )
    return files


def table_files():
    return [
        f"{RES}/tables/table{n}.{ext}"
        for n in range(1, N_TABLES + 1)
        for ext in ("csv", "md")
    ]


def figure_files(ext="png"):
    return [f"{RES}/figures/figure{n:02d}.{ext}" for n in range(1, N_FIGURES + 1)]


def all_outputs():
    return (
        table_files()
        + figure_files("png")
        + figure_files("pdf")
        + [f"{RES}/claims.md", f"{RES}/claims.csv", f"{RES}/sweeps/thresholds.csv"]
        + expand(
            f"{RES}/figures/dataset_{{dataset}}.{{ext}}",
            dataset=DATASETS,
            ext=["png", "pdf"],
        )
        + eval_files()
    )


# ---------------------------------------------------------------- requested targets
def _requested_targets():
    """The targets on the command line. Snakemake sets its DAG settings only after the Snakefile is parsed, so a
    `snakemake` command line is read with Snakemake's own parser; anything else (the API, cluster jobs) gives [].
    """
    import sys

    settings = getattr(workflow, "dag_settings", None)
    if settings is not None:
        return list(settings.targets)
    prog = Path(sys.argv[0])
    if "snakemake" not in (prog.name, prog.parent.name):
        return []
    from snakemake.cli import get_argument_parser

    try:
        args, _ = get_argument_parser().parse_known_args(sys.argv[1:])
    except SystemExit:  # Snakemake itself reports a command line it cannot parse
        return []
    return list(args.targets or ())


def check_targets():
    """Stop before the DAG is built when a requested target is neither a rule nor a file some rule makes.

    Snakemake alone says only "No rule to produce X"; this names what can be asked for instead.
    """
    import difflib

    targets = _requested_targets()
    rules = {r.name: r for r in workflow.rules}

    def known(target):
        if target in rules or os.path.exists(target):
            return True
        candidates = {target, os.path.normpath(target)}
        if os.path.isabs(target):
            candidates.add(os.path.relpath(target))
        else:
            candidates.add(os.path.abspath(target))
        return any(r.is_producer(c) for r in rules.values() for c in candidates)

    unknown = [t for t in targets if not known(t)]
    if not unknown:
        return
    plain = sorted(n for n, r in rules.items() if not r.has_wildcards())
    # output patterns, shown without their wildcard constraints
    patterns = sorted(
        {
            re.sub(r"\{(\w+),[^}]*\}", r"{\1}", str(o))
            for r in rules.values()
            if r.has_wildcards()
            for o in r.output
        }
    )
    lines = []
    for t in unknown:
        lines.append(
            f"unknown target {t!r}: it is neither a rule nor a file any rule makes"
        )
        close = difflib.get_close_matches(t, plain + patterns, n=3, cutoff=0.6)
        if close:
            lines.append(f"  did you mean: {', '.join(close)}?")
    lines.append(f"rules you can ask for: {', '.join(plain)}")
    lines.append(
        f"or files (results_dir is {RES!r}, resources_dir is {config['resources_dir']!r}), "
        "for example one of:"
    )
    lines += [f"  {p}" for p in patterns]
    seeds = ", ".join(map(str, SEEDS))
    lines.append(f"datasets are {', '.join(DATASETS)}; seeds are {seeds}")
    raise ValueError("\n".join(lines))
