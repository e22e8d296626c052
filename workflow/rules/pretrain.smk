rule pretrain_vae:
    """Stage 1: VAE pretraining with a cosine beta ramp and free bits."""
    input:
        data=DATA_FILE,
        code=SRC_TRAIN,
    output:
        model=f"{RUN}/vae/model.pt",
        history=f"{RUN}/vae/history.csv",
    log:
        f"{LOGS}/pretrain_vae/{{dataset}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/pretrain_{{dataset}}_seed{{seed}}_shared.tsv"
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        cfg=as_json(pretrain_params()),
    shell:
        "python -m vaesae.cli.train pretrain --dataset {input.data} --seed {wildcards.seed} "
        "--params {params.cfg:q} --out-model {output.model} --out-history {output.history} "
        "--threads {threads} > {log} 2>&1"
