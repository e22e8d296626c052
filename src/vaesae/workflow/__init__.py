"""The contract between the Snakemake workflow and the package, as plain tested functions, one module per concern
(``workflow/rules/common.smk`` is thin glue over them):

- ``config``: :func:`prepare_config` (types, schema defaults, validation and cross-key checks naming the key path);
- ``paths``: :class:`Paths`, the target lists (:func:`all_outputs` ...), the checkout's sources, unknown targets;
- ``params``: :func:`rule_params`, the config slice each rule receives (only the keys it reads);
- ``closure``: :func:`rule_code`, the source files each rule lists as inputs (its entry module's import closure);
- ``resources``: :func:`rule_resources`, memory and run time of each job.

What the Snakefile and the package's other callers use is re-exported here (``from vaesae import workflow as wf``);
the rest is read from its module. Methods are data: everything method-specific comes from :mod:`vaesae.methods`.
This package imports neither torch nor Snakemake at import time, so the Snakefile parses fast."""
# ruff: noqa: F401

from vaesae.workflow.closure import NARROWER, RULES, TRAINING_RULES, import_closure, rule_code, rule_modules
from vaesae.workflow.config import ConfigError, coerce, deep_merge, load_config, prepare_config
from vaesae.workflow.params import MEASURE_KEYS, REPORTING_KEYS, as_json, rule_params
from vaesae.workflow.paths import (Paths, all_outputs, benchmark_files, copy_workflow, eval_files, extended_methods,
                                   figure_files, global_files, history_files, phases, pretrain_history_files,
                                   raw_history_files, table_files, unknown_targets_message, wildcard_constraints)
from vaesae.workflow.resources import n_images, rule_resources
