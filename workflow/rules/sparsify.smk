rule sparsify:
    """Stage 3: joint training while k is annealed k_start -> k_end (topk) or the L1 penalty is annealed (l1)."""
    input:
        data=DATA_FILE,
        init=f"{RUN}/init/model.pt",
        code=SRC_TRAIN,
    output:
        model=f"{RUN}/{{method}}/model.pt",
        history=f"{RUN}/{{method}}/history.csv",
    log:
        f"{LOGS}/sparsify/{{dataset}}_seed{{seed}}_{{method}}.log",
    benchmark:
        f"{BENCH}/sparsify_{{dataset}}_seed{{seed}}_{{method}}.tsv"
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        cfg=lambda wildcards: as_json(sparsify_params(wildcards)),
    shell:
        "python -m vaesae.cli.train sparsify --method {wildcards.method} --dataset {input.data} "
        "--seed {wildcards.seed} --init {input.init} --params {params.cfg:q} --out-model {output.model} "
        "--out-history {output.history} --threads {threads} > {log} 2>&1"
