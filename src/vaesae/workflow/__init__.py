"""The contract between the Snakemake workflow and the package, as plain tested functions.

``workflow/rules/common.smk`` is thin glue over this package, one module per concern:

- ``config``: :func:`prepare_config`, command-line strings coerced to the schema's types, schema defaults,
  validation whose errors name the key path (``optim.lr``), and the cross-key checks the schema cannot express;
- ``paths``: :class:`Paths` and the target lists (:func:`all_outputs` ...);
- ``params``: :func:`rule_params`, the config slice each rule receives (only the keys it reads, so editing one key
  reruns only the rules that read it);
- ``closure``: :func:`rule_code`, the source files each rule lists as inputs, derived from the import graph of its
  entry module (:func:`import_closure`), minus the written exceptions in :data:`NARROWER`;
- ``resources``: :func:`rule_resources`, memory and run time of each job, sized from the dataset and the epoch
  counts;

plus ``sources`` (the checkout's files and a private copy of them) and ``messages`` (what the user is told).
What the Snakefile and the package's other callers use is re-exported here (``from vaesae import workflow as
wf; wf.rule_params(...)``); the rest is read from its module.

Methods are data: everything method-specific comes from :mod:`vaesae.methods`. This package imports neither torch
nor Snakemake at import time, so the Snakefile parses fast.
"""

from __future__ import annotations

from vaesae.workflow.sources import (  # noqa: F401
    SRC_DIR,
    copy_workflow,
)
from vaesae.workflow.config import (  # noqa: F401
    ConfigError,
    coerce,
    prepare_config,
    deep_merge,
    load_config,
)
from vaesae.workflow.paths import (  # noqa: F401
    Paths,
    extended_methods,
    phases,
    wildcard_constraints,
    eval_files,
    global_files,
    history_files,
    pretrain_history_files,
    raw_history_files,
    benchmark_files,
    table_files,
    figure_files,
    all_outputs,
)
from vaesae.workflow.params import (  # noqa: F401
    MEASURE_KEYS,
    REPORTING_KEYS,
    rule_params,
)
from vaesae.workflow.closure import (  # noqa: F401
    RULES,
    ENTRY,
    TRAINING_RULES,
    NARROWER,
    _module_file,
    import_closure,
    _excluded,
    rule_modules,
    rule_code,
)
from vaesae.workflow.resources import (  # noqa: F401
    n_images,
    rule_resources,
)
from vaesae.workflow.messages import (  # noqa: F401
    as_json,
    unknown_targets_message,
)
