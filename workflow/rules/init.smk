rule init_sae:
    """Stage 2: SAE initialisation at k = k_start with the VAE frozen (shared by both methods)."""
    input:
        data=DATA_FILE,
        vae=f"{RUN}/vae/model.pt",
        code=SRC_TRAIN,
    output:
        model=f"{RUN}/init/model.pt",
        history=f"{RUN}/init/history.csv",
    log:
        f"{LOGS}/init_sae/{{dataset}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/init_{{dataset}}_seed{{seed}}_shared.tsv"
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        cfg=as_json(init_params()),
    shell:
        "python -m vaesae.cli.train init --dataset {input.data} --seed {wildcards.seed} --init {input.vae} "
        "--params {params.cfg:q} --out-model {output.model} --out-history {output.history} "
        "--threads {threads} > {log} 2>&1"
