rule evaluate:
    """Final evaluation of one trained phase on the fixed evaluation set (docs/FORMATS.md)."""
    input:
        data=DATA_FILE,
        model=phase_checkpoint,
        code=code("evaluate"),
    output:
        PATHS.eval_file,
    log:
        f"{LOGS}/evaluate/{{dataset}}_seed{{seed}}_{{phase}}.log",
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=1,
        mem_mb=mem_mb("evaluate"),
        runtime=runtime("evaluate"),
    params:
        cfg=params("evaluate"),
    shell:
        "python -m vaesae.cli.evaluate --dataset {input.data} --seed {wildcards.seed} --phase {wildcards.phase} "
        "--checkpoint {input.model} --params {params.cfg:q} --out {output} --threads {threads} > {log} 2>&1"


rule global_metrics:
    """SAP and DCI of the VAE means of one evaluation file (extras beyond the paper; CPU only)."""
    input:
        evaluation=PATHS.eval_file,
        code=code("global_metrics"),
    output:
        PATHS.global_file,
    log:
        f"{LOGS}/global_metrics/{{dataset}}_seed{{seed}}_{{phase}}.log",
    conda:
        ENV
    threads: config["global_metrics"]["threads"]
    resources:
        mem_mb=mem_mb("global_metrics"),
        runtime=runtime("global_metrics"),
    params:
        cfg=params("global_metrics"),
    shell:
        "python -m vaesae.cli.global_metrics --eval {input.evaluation} --params {params.cfg:q} --out {output} "
        "--threads {threads} > {log} 2>&1"
