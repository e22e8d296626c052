rule pretrain_vae:
    """Stage 1: VAE pretraining with a cosine beta ramp and free bits."""
    input:
        data=DATA_FILE,
        code=code("pretrain_vae"),
    output:
        model=f"{VAE_RUN}/model.pt",
        history=f"{VAE_RUN}/history.csv",
        raw=f"{VAE_RUN}/history.h5",
    log:
        f"{PATHS.vae_dir}/logs/pretrain_vae/{{dataset}}_seed{{seed}}.log",
    benchmark:
        PATHS.vae_benchmark("{dataset}", "{seed}")
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=1,
        checkpoint_minutes=config["checkpoint_minutes"],  # a resource, not a param: changing it retrains nothing
        mem_mb=mem_mb("pretrain_vae"),
        runtime=runtime("pretrain_vae"),
    params:
        cfg=params("pretrain_vae"),
    shell:
        "python -m vaesae.cli.train pretrain --dataset {input.data} --seed {wildcards.seed} "
        "--params {params.cfg:q} --out-model {output.model} --out-history {output.history} --out-raw {output.raw} "
        "--threads {threads} "
        "--checkpoint-minutes {resources.checkpoint_minutes} > {log} 2>&1"
