rule extend:
    """Extended training: more epochs at a method's final sparsity (k_end for Top-k) from its stage-3 checkpoint,
    optimizer and revival state; for every method whose row in the methods table says extended.
    """
    input:
        data=DATA_FILE,
        start=f"{RUN}/{{method}}/model.pt",
        code=code("extend"),
    output:
        model=f"{RUN}/{{method}}_extended/model.pt",
        history=f"{RUN}/{{method}}_extended/history.csv",
        raw=f"{RUN}/{{method}}_extended/history.h5",
    log:
        f"{LOGS}/extend/{{dataset}}_seed{{seed}}_{{method}}.log",
    benchmark:
        f"{BENCH}/extend_{{dataset}}_seed{{seed}}_{{method}}.tsv"
    wildcard_constraints:
        method=EXTENDED,
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=1,
        checkpoint_minutes=config["checkpoint_minutes"],  # a resource, not a param: changing it retrains nothing
        mem_mb=mem_mb("extend"),
        runtime=runtime("extend"),
    params:
        cfg=params("extend"),
    shell:
        "python -m vaesae.cli.train extend --method {wildcards.method} --dataset {input.data} "
        "--seed {wildcards.seed} --init {input.start} --params {params.cfg:q} --out-model {output.model} "
        "--out-history {output.history} --out-raw {output.raw} --threads {threads} "
        "--checkpoint-minutes {resources.checkpoint_minutes} > {log} 2>&1"
