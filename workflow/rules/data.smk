rule dataset:
    """Stage 0: write the canonical HDF5 of one dataset (procedural by default; see data.source)."""
    input:
        code("dataset"),
    output:
        DATA_FILE,
    log:
        f"{LOGS}/dataset/{{dataset}}.log",
    conda:
        ENV
    resources:
        mem_mb=mem_mb("dataset"),
        runtime=runtime("dataset"),
    params:
        cfg=params("dataset"),
    shell:
        "python -m vaesae.data.generate --dataset {wildcards.dataset} --out {output} --params {params.cfg:q} "
        "> {log} 2>&1"
