"""Thin glue over src/vaesae/workflow/ (one module per concern), where the workflow's contract lives as tested functions."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from vaesae import methods as method_table  # noqa: E402
from vaesae import workflow as wf  # noqa: E402

# coerce --config strings to the schema's types, fill defaults, validate (errors name the key), cross-key checks
wf.prepare_config(
    config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
)

PATHS = wf.Paths.of(config)
# results_dir, or results_dir/variant (stage 1 stays in results_dir: PATHS.vae_run)
RES = PATHS.results_dir
DATA_FILE = PATHS.data_file
RUN = PATHS.run
VAE_RUN = PATHS.vae_run
LOGS = PATHS.logs
BENCH = PATHS.bench
ENV = "../../envs/pipeline.yaml"
EXTENDED = "|".join(wf.extended_methods(config)) or "(?!)"  # (?!): matches nothing

# Jobs import the package from this checkout's src/ (also inside conda envs and on cluster nodes).
shell.prefix(f'export PYTHONPATH="{Path(workflow.basedir) / "src"}:$PYTHONPATH"; ')


wildcard_constraints:
    **wf.wildcard_constraints(config),


def code(name):
    """Source inputs of a rule: its entry point's import closure (wf.rule_code); per method where it has one."""
    if name == "evaluate":  # its phase wildcard names the method
        return lambda wildcards: wf.rule_code(name, method=phase_method(wildcards))
    if wf.RULES[name].per_method:
        return lambda wildcards: wf.rule_code(name, method=wildcards.method)
    return wf.rule_code(name)


def params(name):
    """The --params JSON of a rule: only the config keys it reads (wf.rule_params)."""
    return lambda wildcards: wf.as_json(
        wf.rule_params(config, name, **dict(wildcards.items()))
    )


def mem_mb(name):
    return lambda wildcards, attempt: wf.rule_resources(
        config, name, wildcards.get("dataset"), attempt
    )["mem_mb"]


def runtime(name):
    return lambda wildcards, attempt: wf.rule_resources(
        config, name, wildcards.get("dataset"), attempt
    )["runtime"]


def phase_method(wildcards):
    stage, method = method_table.phase_run(wildcards.phase)
    return None if stage == "init" else method


def phase_checkpoint(wildcards):
    return (
        f"{PATHS.run_dir(wildcards.dataset, wildcards.seed, wildcards.phase)}/model.pt"
    )


def report_inputs():
    return {
        "evaluations": PATHS.summary_evaluations,
        "globals": wf.global_files(config),
        "history": PATHS.summary_history,
        "sweep": PATHS.sweep_file,
    }


def check_targets():
    """Stop before the DAG is built when a requested target is neither a rule nor a file some rule makes."""
    targets = _requested_targets()
    rules = {r.name: r for r in workflow.rules}

    def known(target):
        if target in rules or os.path.exists(target):
            return True
        candidates = {target, os.path.normpath(target), os.path.abspath(target)}
        if os.path.isabs(target):
            candidates.add(os.path.relpath(target))
        return any(r.is_producer(c) for r in rules.values() for c in candidates)

    unknown = [t for t in targets if not known(t)]
    if unknown:
        plain = sorted(n for n, r in rules.items() if not r.has_wildcards())
        patterns = [
            str(o) for r in rules.values() if r.has_wildcards() for o in r.output
        ]
        raise ValueError(wf.unknown_targets_message(unknown, plain, patterns, config))


def _requested_targets():
    """Targets of a `snakemake` command line (Snakemake sets its DAG settings only after parsing the Snakefile, so
    the command line is read with its own parser); [] for the API and cluster jobs."""
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
