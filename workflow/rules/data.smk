rule dataset:
    """Stage 0: write the canonical HDF5 of one dataset (procedural by default; see data.source)."""
    input:
        SRC_DATA,
    output:
        DATA_FILE,
    log:
        f"{LOGS}/dataset/{{dataset}}.log",
    conda:
        ENV
    params:
        cfg=lambda wildcards: as_json(dataset_params(wildcards)),
    shell:
        "python -m vaesae.data.generate --dataset {wildcards.dataset} --out {output} --params {params.cfg:q} "
        "> {log} 2>&1"
