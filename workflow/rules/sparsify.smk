rule sparsify:
    """Stage 3: joint training under one method of the methods table (Top-k: k annealed k_start -> k_end; L1: the
    L1 penalty annealed)."""
    input:
        data=DATA_FILE,
        init=f"{RUN}/init/model.pt",
        code=code("sparsify"),
    output:
        model=f"{RUN}/{{method}}/model.pt",
        history=f"{RUN}/{{method}}/history.csv",
        raw=f"{RUN}/{{method}}/history.h5",
    log:
        f"{LOGS}/sparsify/{{dataset}}_seed{{seed}}_{{method}}.log",
    benchmark:
        f"{BENCH}/sparsify_{{dataset}}_seed{{seed}}_{{method}}.tsv"
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=1,
        checkpoint_minutes=config["checkpoint_minutes"],  # a resource, not a param: changing it retrains nothing
        mem_mb=mem_mb("sparsify"),
        runtime=runtime("sparsify"),
    params:
        cfg=params("sparsify"),
    shell:
        "python -m vaesae.cli.train sparsify --method {wildcards.method} --dataset {input.data} "
        "--seed {wildcards.seed} --init {input.init} --params {params.cfg:q} --out-model {output.model} "
        "--out-history {output.history} --out-raw {output.raw} --threads {threads} "
        "--checkpoint-minutes {resources.checkpoint_minutes} > {log} 2>&1"
