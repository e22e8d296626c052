rule sweep:
    """Threshold sensitivity: specialization and dead-neuron thresholds over every evaluation file."""
    input:
        evals=wf.eval_files(config),
        code=code("sweep"),
    output:
        PATHS.sweep_file,
    log:
        f"{LOGS}/sweep.log",
    conda:
        ENV
    resources:
        mem_mb=mem_mb("sweep"),
        runtime=runtime("sweep"),
    params:
        cfg=params("sweep"),
    shell:
        "python -m vaesae.cli.sweep --evals {input.evals} --params {params.cfg:q} --out {output} > {log} 2>&1"
