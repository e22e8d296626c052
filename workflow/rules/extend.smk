rule extend:
    """Extended training: more epochs at k = k_end from the Top-k checkpoint, optimizer and revival state."""
    input:
        data=DATA_FILE,
        topk=f"{RUN}/topk/model.pt",
        code=SRC_TRAIN,
    output:
        model=f"{RUN}/topk_extended/model.pt",
        history=f"{RUN}/topk_extended/history.csv",
    log:
        f"{LOGS}/extend/{{dataset}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/extend_{{dataset}}_seed{{seed}}_topk.tsv"
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        cfg=as_json(extend_params()),
    shell:
        "python -m vaesae.cli.train extend --method topk --dataset {input.data} --seed {wildcards.seed} "
        "--init {input.topk} --params {params.cfg:q} --out-model {output.model} "
        "--out-history {output.history} --threads {threads} > {log} 2>&1"
