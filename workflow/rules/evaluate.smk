rule evaluate:
    """Final evaluation of one trained phase on the fixed evaluation set (docs/FORMATS.md)."""
    input:
        data=DATA_FILE,
        model=phase_checkpoint,
        code=SRC_METRICS + SRC_TRAIN,
    output:
        f"{RES}/eval/{{dataset}}/seed{{seed}}/{{phase}}.h5",
    log:
        f"{LOGS}/evaluate/{{dataset}}_seed{{seed}}_{{phase}}.log",
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        cfg=as_json(evaluate_params()),
    shell:
        "python -m vaesae.cli.evaluate --dataset {input.data} --seed {wildcards.seed} --phase {wildcards.phase} "
        "--checkpoint {input.model} --params {params.cfg:q} --out {output} --threads {threads} > {log} 2>&1"


rule global_metrics:
    """SAP and DCI of the VAE means of one evaluation file (extras beyond the paper; CPU only)."""
    input:
        evaluation=f"{RES}/eval/{{dataset}}/seed{{seed}}/{{phase}}.h5",
        code=SRC_GLOBAL,
    output:
        f"{RES}/eval/{{dataset}}/seed{{seed}}/{{phase}}.global.csv",
    log:
        f"{LOGS}/global_metrics/{{dataset}}_seed{{seed}}_{{phase}}.log",
    conda:
        ENV
    threads: config["global_metrics"]["threads"]
    params:
        cfg=as_json(
            {
                "dci_model": config["global_metrics"]["dci_model"],
                "train_fraction": config["global_metrics"]["train_fraction"],
            }
        ),
    shell:
        "python -m vaesae.cli.global_metrics --eval {input.evaluation} --params {params.cfg:q} --out {output} "
        "--threads {threads} > {log} 2>&1"
