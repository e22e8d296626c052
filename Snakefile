# Reproduction of Roy, Misra & Singh (2026), "Fundamental Limits of Neural Network Sparsification".
# The paper run:   snakemake all --cores 1 --resources gpu=1
# The quick preset: snakemake all --cores 2 --configfile workflow/presets/quick.yaml
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


# common.smk validates the config against workflow/schemas/config.schema.yaml (vaesae.workflow.prepare_config)
include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/init.smk"
include: "workflow/rules/sparsify.smk"
include: "workflow/rules/extend.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/render.smk"


rule all:
    default_target: True
    input:
        wf.all_outputs(config),


check_targets()
