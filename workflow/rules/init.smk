rule init_sae:
    """Stage 2: SAE initialisation at k = k_start with the VAE frozen (shared by every method)."""
    input:
        data=DATA_FILE,
        vae=f"{VAE_RUN}/model.pt",
        code=code("init_sae"),
    output:
        model=f"{RUN}/init/model.pt",
        history=f"{RUN}/init/history.csv",
        raw=f"{RUN}/init/history.h5",
    log:
        f"{LOGS}/init_sae/{{dataset}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/init_{{dataset}}_seed{{seed}}_shared.tsv"
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=1,
        checkpoint_minutes=config["checkpoint_minutes"],  # a resource, not a param: changing it retrains nothing
        mem_mb=mem_mb("init_sae"),
        runtime=runtime("init_sae"),
    params:
        cfg=params("init_sae"),
    shell:
        "python -m vaesae.cli.train init --dataset {input.data} --seed {wildcards.seed} --init {input.vae} "
        "--params {params.cfg:q} --out-model {output.model} --out-history {output.history} --out-raw {output.raw} "
        "--threads {threads} "
        "--checkpoint-minutes {resources.checkpoint_minutes} > {log} 2>&1"
